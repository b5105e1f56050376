import { useId } from 'react';
import { chooseSample, openImageFile } from '../actions';
import { selectCatalog, selectImage, useStore } from '../store';

export function ImagePanel() {
  const { current, loading, error } = useStore(selectImage);
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
            className={current?.name === s.file ? 'sample selected' : 'sample'}
            aria-pressed={current?.name === s.file}
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
          {current.tensor ? 'Tensor' : 'Image'}: {current.name} ({current.width} x {current.height})
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
