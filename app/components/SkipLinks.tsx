/**
 * Skip links: the first focusable elements of the page, hidden until focused. They move the keyboard focus past
 * the model and image controls, to the heatmap (whose arrow keys probe pixels) or to the layers and rules panel.
 * The address's fragment holds share links (app/share.ts), so the links move the focus themselves instead of
 * following their href.
 */
export const SKIP_TARGETS = { heatmap: 'heatmap-canvas', rules: 'layers-and-rules' } as const;

function skipTo(event: React.MouseEvent<HTMLAnchorElement>, id: string): void {
  event.preventDefault();
  const target = document.getElementById(id);
  target?.focus();
}

export function SkipLinks() {
  return (
    <nav className="skip-links" aria-label="Skip links">
      <a className="skip-link" href={`#${SKIP_TARGETS.heatmap}`} onClick={(e) => skipTo(e, SKIP_TARGETS.heatmap)}>
        Skip to heatmap
      </a>
      <a className="skip-link" href={`#${SKIP_TARGETS.rules}`} onClick={(e) => skipTo(e, SKIP_TARGETS.rules)}>
        Skip to rules
      </a>
    </nav>
  );
}
