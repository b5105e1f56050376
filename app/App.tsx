import { useEffect, useState } from 'react';
import { openImageFile, openModelFiles } from './actions';
import { AnalysisPanel } from './components/AnalysisPanel';
import { HeatmapView } from './components/HeatmapView';
import { ImagePanel } from './components/ImagePanel';
import { LayerInspector } from './components/LayerInspector';
import { LayerPanel } from './components/LayerPanel';
import { ModelPanel } from './components/ModelPanel';
import { Predictions } from './components/Predictions';
import { ShareButton, ShareMessages } from './components/ShareButton';
import { SKIP_TARGETS, SkipLinks } from './components/SkipLinks';
import { StatusLine } from './components/StatusLine';

/**
 * Files that belong to a model: ONNX, its external data, a TF.js model.json and its weight shards, and a class list
 * beside them (labels.txt; src/models/model-files.ts decides which of them are used and says what it ignored).
 */
export function isModelFile(file: File): boolean {
  return /\.(onnx|data|bin|json|pb|txt)$/i.test(file.name) || /shard\d+of\d+$/i.test(file.name);
}

export function isImageFile(file: File): boolean {
  return file.type.startsWith('image/') || /\.(png|jpe?g|gif|webp|bmp|avif|npy)$/i.test(file.name);
}

/** Dropped or pasted files: a model's files open the model, an image (or .npy tensor) becomes the image. */
function takeFiles(files: File[]): void {
  const model = files.filter(isModelFile);
  const image = files.find((f) => !isModelFile(f) && isImageFile(f));
  if (model.length) void openModelFiles(model);
  else if (image) void openImageFile(image, image.name);
}

export function App() {
  const [dragging, setDragging] = useState(false);

  useEffect(() => {
    const onPaste = (event: ClipboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA')) return;
      const files = [...(event.clipboardData?.files ?? [])];
      const image = files.find(isImageFile);
      if (image) {
        event.preventDefault();
        void openImageFile(image, image.name || 'pasted image');
      }
    };
    window.addEventListener('paste', onPaste);
    return () => window.removeEventListener('paste', onPaste);
  }, []);

  return (
    <div
      className={dragging ? 'app dragging' : 'app'}
      onDragOver={(e) => {
        if (!e.dataTransfer.types.includes('Files')) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
        setDragging(true);
      }}
      onDragLeave={(e) => {
        if (e.currentTarget === e.target || !e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        takeFiles([...e.dataTransfer.files]);
      }}
    >
      <SkipLinks />
      <header className="app-header">
        <div>
          <h1>LRP Lens</h1>
          <p className="tagline">
            Layer-wise Relevance Propagation heatmaps, computed in your browser. Your model and your images never leave
            this page.
          </p>
        </div>
        <StatusLine />
        <ShareButton />
      </header>
      <ShareMessages />
      {/*
        Laptop and wider: inputs | heatmap, the layer inspector under it | predictions, the layers and rules under
        them: the heatmap, the predictions and the rules share the first screen. Narrower: heatmap | predictions and
        rules, the inputs below. Phone: one column, the heatmap first. (app/styles.css, "Layout".)
      */}
      <main className="layout">
        <div className="area-inputs column">
          <ModelPanel />
          <ImagePanel />
        </div>
        <div className="area-heatmap column">
          <HeatmapView />
        </div>
        <div className="area-side column">
          <Predictions />
          <div className="rules-anchor" id={SKIP_TARGETS.rules} tabIndex={-1}>
            <LayerPanel />
          </div>
        </div>
        <div className="area-inspector column">
          <LayerInspector />
        </div>
        <div className="area-analysis column">
          <AnalysisPanel />
        </div>
      </main>
      {dragging && (
        <div className="drop-hint" aria-hidden="true">
          Drop an image, or a model's files (ONNX with its .onnx.data, or a TF.js model.json with its shards)
        </div>
      )}
    </div>
  );
}
