import { useId } from 'react';
import { chooseSample, openImageFile } from '../actions';
import { selectCatalog, selectImage, useStore } from '../store';

/** "name (W x H)", unless the name already ends with the size (a share link's "shared image (64 x 64)"). */
function withSize(name: string, width: number, height: number): string {
  const size = `(${width} x ${height})`;
  return name.endsWith(size) ? name : `${name} ${size}`;
}

export function ImagePanel() {
  const { current, loading, error, sample } = useStore(selectImage);
  const samples = useStore(selectCatalog)?.samples ?? [];
  const id = useId();
  return (
    <section className="panel">
      <h2>Image</h2>
      <div className="row">
        <label className="button file-button">
          <span>Upload image</span>
          <input
            type="file"
            accept="image/*,.npy"
            className="visually-hidden"
            aria-describedby={`${id}-hint`}
            onChange={(e) => {
              const file = e.target.files?.[0];
              e.target.value = '';
              if (file) void openImageFile(file, file.name);
            }}
          />
        </label>
        <span id={`${id}-hint`} className="hint">
          or drop an image here, or paste one (Ctrl+V). A .npy tensor of the model&apos;s input shape is used as it is.
        </span>
      </div>
      <div className="samples" role="group" aria-label="Sample photos">
        {samples.map((s) => (
          <button
            key={s.file}
            type="button"
            // Only the sample itself, not a file of the same name the user gave.
            className={current && sample === s.file ? 'sample selected' : 'sample'}
            aria-pressed={!!current && sample === s.file}
            onClick={() => void chooseSample(s.file)}
            title={`${s.label} (${s.credit})`}
          >
            <img src={`/samples/${s.file}`} alt={s.label} width={64} height={64} loading="lazy" decoding="async" />
          </button>
        ))}
      </div>
      {loading && (
        <p role="status" className="hint">
          Decoding {loading}…
        </p>
      )}
      {current && (
        <p className="hint">
          {current.tensor ? 'Tensor' : 'Image'}: {withSize(current.name, current.width, current.height)}
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
