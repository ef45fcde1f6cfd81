import type { ReactNode } from 'react';

interface FieldProps {
  id: string;
  label: string;
  /** Shown under the control and linked to it with aria-describedby (`${id}-hint`). */
  hint?: ReactNode;
  children: ReactNode;
  className?: string;
}

/** A labelled control with an optional hint. The control itself must carry `id` and `aria-describedby`. */
export function Field({ id, label, hint, children, className }: FieldProps) {
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </div>
  );
}
