import { selectResultSlice, selectStatus, useStore } from '../store';

const ms = (t: number) => (t >= 1000 ? `${(t / 1000).toFixed(2)} s` : `${Math.round(t)} ms`);

/** Which backend runs, and how long the last explanation took. */
export function StatusLine() {
  const status = useStore(selectStatus);
  const { current, computing } = useStore(selectResultSlice);
  let text: string;
  if (status.error) text = status.error;
  else if (status.starting || !status.backend) text = 'Starting the engine…';
  else {
    text = status.backend.description;
    if (current) {
      text += ` · last explanation ${ms(current.engineMs)}`;
      if (status.lastMs !== null) text += ` (${ms(status.lastMs)} with the round trip)`;
      if (current.forwardReused) text += ', forward pass reused';
    }
    if (computing) text += ' · computing…';
  }
  return (
    <div className="status-wrap">
      <p className="status" role="status" aria-label="Status">
        {text}
      </p>
      {status.notice && (
        <p className="notice" role="alert">
          {status.notice}
        </p>
      )}
    </div>
  );
}
