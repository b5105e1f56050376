import { useEffect, useId, useRef } from 'react';
import { copyShareLink, dismissPendingModel, dismissShareMessages, linkSize, openLinkModelFiles, useShareUi } from '../share';

/** "Copy share link": the link (address with the state in its fragment) to the clipboard, with a confirmation. */
export function ShareButton() {
  const copy = useShareUi((s) => s.copy);
  const id = useId();
  return (
    <div className="share">
      <button type="button" onClick={() => void copyShareLink()} disabled={copy?.state === 'working'} aria-describedby={`${id}-hint`}>
        Copy share link
      </button>
      <span id={`${id}-hint`} className="visually-hidden">
        The link holds the model, image, target, rules and view in its fragment (after #), which is never sent to a server.
      </span>
      <div role="status" className="share-result">
        {copy?.state === 'working' && 'Making the link…'}
        {copy?.state === 'copied' && <>Link copied: {linkSize(copy.link)}. Anyone who opens it sees this explanation.</>}
        {copy?.state === 'manual' && (
          <>
            The browser did not allow copying to the clipboard: the link ({linkSize(copy.link)}) is selected in the field below; copy
            it with Ctrl+C.
          </>
        )}
      </div>
      {copy?.state === 'manual' && <LinkField link={copy.link} />}
      {copy?.state === 'error' && (
        <p className="error" role="alert">
          {copy.message}
        </p>
      )}
    </div>
  );
}

function LinkField({ link }: { link: string }) {
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => {
    field.current?.focus();
    field.current?.select();
  }, [link]);
  return <input ref={field} className="share-link" type="text" readOnly value={link} aria-label="Share link" onFocus={(e) => e.currentTarget.select()} />;
}

const short = (sha256: string) => `${sha256.slice(0, 12)}…`;

/**
 * What opening a link has to say: why it could not be opened, what did not fit, the request for a user's model
 * files, and whether they are the files the link was made with.
 */
export function ShareMessages() {
  const { linkError, linkNotes, pending, modelCheck } = useShareUi();
  const id = useId();
  if (!linkError && !linkNotes.length && !pending && !modelCheck) return null;
  return (
    <section className="share-messages" aria-label="Share link">
      {linkError && (
        <p className="error" role="alert">
          {linkError}
        </p>
      )}
      {linkNotes.length > 0 && (
        <div className="error" role="alert">
          {linkNotes.map((n) => (
            <p key={n}>{n}</p>
          ))}
        </div>
      )}
      {pending && (
        <div className="share-prompt" role="group" aria-labelledby={`${id}-prompt`}>
          <p id={`${id}-prompt`}>
            This link was made with a model of its sender&apos;s own: <strong className="file-name">{pending.name}</strong> (SHA-256{' '}
            <code>{short(pending.sha256)}</code>). Nothing was uploaded anywhere: open that file here, with its side files (an
            ONNX model&apos;s .onnx.data, a TF.js model&apos;s weight shards), to see the explanation.
          </p>
          <div className="row">
            <label className="button file-button">
              <span>Open {pending.name}</span>
              <input
                type="file"
                multiple
                className="visually-hidden"
                aria-label={`Open the link's model (${pending.name}) and its side files`}
                onChange={(e) => {
                  const files = [...(e.target.files ?? [])];
                  e.target.value = '';
                  void openLinkModelFiles(files);
                }}
              />
            </label>
            <button type="button" onClick={dismissPendingModel}>
              Not now
            </button>
          </div>
        </div>
      )}
      {modelCheck &&
        (modelCheck.ok ? (
          <p className="share-ok" role="status">
            The model files match the link (SHA-256 <code>{short(modelCheck.actualSha256)}</code>).
          </p>
        ) : (
          <p className="error share-warning" role="alert">
            Warning: this is not the file the link was made with. The link&apos;s model is {modelCheck.expectedName} with SHA-256{' '}
            <code>{short(modelCheck.expectedSha256)}</code>; the files opened ({modelCheck.actualName}) have SHA-256{' '}
            <code>{short(modelCheck.actualSha256)}</code>. The explanation shown comes from the files you opened.
          </p>
        ))}
      {(linkError || linkNotes.length > 0 || modelCheck) && (
        <button type="button" className="small" onClick={dismissShareMessages}>
          Dismiss
        </button>
      )}
    </section>
  );
}
