import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { startOptionsFromUrl } from './actions';
import { startController } from './controller';
import { startWithShareLinks } from './share';
import './styles.css';

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

startController();
void startWithShareLinks(startOptionsFromUrl(window.location.search));
