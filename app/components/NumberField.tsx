import { useId, useState } from 'react';

export interface NumberFieldProps {
  /** The accessible name (aria-label). */
  readonly label: string;
  readonly value: number;
  readonly min: number;
  readonly max: number;
  /** Called with a valid number on Enter or when focus leaves; never with the value shown already. */
  readonly onCommit: (value: number) => void;
  readonly disabled?: boolean;
  readonly size?: number;
  /** How the value reads when not being edited (default: String). */
  readonly format?: (value: number) => string;
  readonly className?: string;
}

/** Null when `text` is a number within [min, max], else what is wrong with it. */
export function numberProblem(text: string, min: number, max: number): string | null {
  const t = text.trim();
  if (t === '') return `Enter a number from ${min} to ${max}.`;
  // Number('') is 0 and Number('0x10') is 16: accept decimal notation only.
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return `“${t}” is not a number: enter one from ${min} to ${max}.`;
  const x = Number(t);
  if (!Number.isFinite(x)) return `“${t}” is not a finite number.`;
  if (x < min || x > max) return `${t} is out of range: enter a number from ${min} to ${max}.`;
  return null;
}

/**
 * A number edited as text: typing changes nothing until Enter or blur, where the text is checked; a bad value
 * shows an inline message (aria-invalid, aria-describedby) and the last good value stays in effect. Escape
 * returns to the value in effect.
 */
export function NumberField({ label, value, min, max, onCommit, disabled = false, size = 7, format = String, className = 'num' }: NumberFieldProps) {
  const [draft, setDraft] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const errorId = useId();
  const invalid = problem !== null && !disabled;
  const commit = () => {
    if (draft === null) return;
    const p = numberProblem(draft, min, max);
    if (p) {
      setProblem(p);
      return;
    }
    const x = Number(draft.trim());
    setDraft(null);
    setProblem(null);
    if (x !== value) onCommit(x);
  };
  const revert = () => {
    setDraft(null);
    setProblem(null);
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
        value={disabled ? format(value) : (draft ?? format(value))}
        size={size}
        disabled={disabled}
        onChange={(e) => {
          setDraft(e.target.value);
          if (problem !== null && numberProblem(e.target.value, min, max) === null) setProblem(null);
        }}
        onBlur={commit}
        onKeyDown={(e) => {
          if (e.key === 'Enter') commit();
          if (e.key === 'Escape') revert();
        }}
      />
      <span id={errorId} className="field-error" aria-live="polite">
        {invalid ? problem : null}
      </span>
    </span>
  );
}
