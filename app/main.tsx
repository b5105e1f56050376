import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { start, startOptionsFromUrl } from './actions';
import { startController } from './controller';
import './styles.css';

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

startController();
void start(startOptionsFromUrl(window.location.search));
