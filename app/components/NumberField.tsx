import { useId, useState } from 'react';

export interface NumberFieldProps {
  /** The accessible name (aria-label). */
  readonly label: string;
  readonly value: number;
  readonly min: number;
  readonly max: number;
  /** Called with a valid number on Enter or when focus leaves; never with the value in effect already. */
  readonly onCommit: (value: number) => void;
  readonly disabled?: boolean;
  readonly size?: number;
  /** How the value reads when not being edited (default: String). */
  readonly format?: (value: number) => string;
  readonly className?: string;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** Null when `text` is a number within [min, max], else what is wrong with it. */
export function numberProblem(text: string, min: number, max: number): string | null {
  const t = text.trim();
  if (t === '') return `Enter a number from ${min} to ${max}.`;
  // Number('') is 0 and Number('0x10') is 16: decimal notation only.
  if (!DECIMAL.test(t)) return `“${t}” is not a number: enter one from ${min} to ${max}.`;
  const x = Number(t);
  if (!Number.isFinite(x)) return `“${t}” is not a finite number.`;
  if (x < min || x > max) return `${t} is out of range: enter a number from ${min} to ${max}.`;
  return null;
}

/** A list of numbers (a scalar or one per channel, as ZBox's bounds): the numbers, or what is wrong. */
export function parseNumberList(text: string, channels: number): { value: number | number[] } | { problem: string } {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  const want = channels > 1 ? `one number, or ${channels} (one per channel)` : 'one number';
  if (parts.length === 0) return { problem: `Enter ${want}.` };
  const bad = parts.find((p) => !DECIMAL.test(p) || !Number.isFinite(Number(p)));
  if (bad !== undefined) return { problem: `“${bad}” is not a number: enter ${want}, separated by commas.` };
  if (parts.length !== 1 && parts.length !== channels) return { problem: `${parts.length} numbers: enter ${want}.` };
  const xs = parts.map(Number);
  return { value: xs.length === 1 ? xs[0]! : xs };
}

interface CheckedFieldProps<T> {
  readonly label: string;
  readonly shown: string;
  readonly check: (text: string) => { value: T } | { problem: string };
  readonly onCommit: (value: T) => void;
  readonly disabled: boolean;
  readonly size: number;
  readonly className: string;
}

/**
 * A box edited as text: typing changes nothing until Enter or blur, where the text is checked; a bad value shows
 * an inline message (aria-invalid, aria-describedby) and the last good value stays in effect. Escape returns to
 * the value in effect.
 */
function CheckedField<T>({ label, shown, check, onCommit, disabled, size, className }: CheckedFieldProps<T>) {
  // The text being typed and its problem, for the value shown when typing began: a value changed elsewhere (the
  // slider beside the box, a preset, a share link) replaces them.
  const [edit, setEdit] = useState<{ for: string; draft: string | null; problem: string | null }>({ for: shown, draft: null, problem: null });
  const { draft, problem } = edit.for === shown ? edit : { draft: null, problem: null };
  const errorId = useId();
  const invalid = problem !== null && !disabled;
  const commit = () => {
    if (draft === null) return;
    const r = check(draft);
    if ('problem' in r) {
      setEdit({ for: shown, draft, problem: r.problem });
      return;
    }
    setEdit({ for: shown, draft: null, problem: null });
    if (draft.trim() !== shown) onCommit(r.value);
  };
  return (
    <span className="number-field">
      <input
        className={className}
        type="text"
        inputMode="decimal"
        aria-label={label}
        aria-invalid={invalid}
        aria-describedby={invalid ? errorId : undefined}
        value={disabled ? shown : (draft ?? shown)}
        size={size}
        disabled={disabled}
        onChange={(e) => {
          const text = e.target.value;
          // A message stays until the text is good again (or is committed).
          setEdit({ for: shown, draft: text, problem: problem !== null && 'problem' in check(text) ? problem : null });
        }}
        onBlur={commit}
        onKeyDown={(e) => {
          if (e.key === 'Enter') commit();
          if (e.key === 'Escape') setEdit({ for: shown, draft: null, problem: null });
        }}
      />
      <span id={errorId} className="field-error" aria-live="polite">
        {invalid ? problem : null}
      </span>
    </span>
  );
}

/** A number box (the clip percentile, a rule's parameter): text while typed, checked against its range on commit. */
export function NumberField({ label, value, min, max, onCommit, disabled = false, size = 7, format = String, className = 'num' }: NumberFieldProps) {
  const check = (text: string) => {
    const problem = numberProblem(text, min, max);
    return problem !== null ? { problem } : { value: Number(text.trim()) };
  };
  return (
    <CheckedField<number>
      label={label}
      shown={format(value)}
      check={check}
      onCommit={(x) => x !== value && onCommit(x)}
      disabled={disabled}
      size={size}
      className={className}
    />
  );
}

/** A box for a scalar or one number per channel (ZBox's bounds), checked on commit like NumberField. */
export function NumberListField({
  label,
  value,
  channels,
  onCommit,
  disabled = false,
}: {
  label: string;
  value: number | readonly number[] | undefined;
  channels: number;
  onCommit: (value: number | number[]) => void;
  disabled?: boolean;
}) {
  // Six significant digits: what is shown is what a commit of the unchanged text would set.
  const text = (x: number) => String(Number(x.toPrecision(6)));
  const shown = Array.isArray(value) ? value.map(text).join(', ') : typeof value === 'number' ? text(value) : '';
  return (
    <CheckedField<number | number[]>
      label={label}
      shown={shown}
      check={(text) => parseNumberList(text, channels)}
      onCommit={onCommit}
      disabled={disabled}
      size={12}
      className="num bounds"
    />
  );
}
