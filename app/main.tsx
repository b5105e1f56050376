import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

function App() {
  return (
    <main>
      <h1>LRP Lens</h1>
      <p>
        Layer-wise Relevance Propagation heatmaps for image classifiers, computed on your GPU with WebGPU. Nothing
        leaves your browser.
      </p>
    </main>
  );
}

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
