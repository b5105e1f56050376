/**
 * The lrp-lens command line. Bundled by Vite (vite.cli.config.ts) into dist/cli/lrp-lens.mjs, which
 * bin/lrp-lens.mjs imports; it runs on import and reads process.argv.
 *
 * Exit status: 0 success, 1 failure (a golden case failed, or an error), 2 bad usage.
 */
import { COMMANDS, parseArgs, usage, usageHint, UsageError, type CommandName } from './args';
import { formatReport, runExplain } from './explain';
import { runGolden } from './golden';
import { formatBatch, runBatch } from './batch';
import { formatEvaluation, runEvaluate } from './evaluate';
import { formatLinkReport, runExplainLink } from './link';

function flush(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve();
    stream.write('', () => resolve());
  });
}

async function main(argv: readonly string[]): Promise<number> {
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  try {
    const cmd = parseArgs(argv);
    if (cmd.kind === 'help') {
      process.stdout.write(`${usage(cmd.command)}\n`);
      return 0;
    }
    if (cmd.kind === 'explain' && cmd.images !== undefined) {
      const report = await runBatch(cmd);
      process.stdout.write(cmd.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatBatch(report).join('\n')}\n`);
      return report.failed.length > 0 ? 1 : 0;
    }
    if (cmd.kind === 'explain-link') {
      const report = await runExplainLink(cmd, (line) => process.stderr.write(`lrp-lens: ${line}\n`));
      process.stdout.write(cmd.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatLinkReport(report).join('\n')}\n`);
      return 0;
    }
    if (cmd.kind === 'evaluate') {
      const report = await runEvaluate(cmd, (line) => process.stderr.write(`lrp-lens: ${line}\n`));
      process.stdout.write(cmd.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatEvaluation(report).join('\n')}\n`);
      return 0;
    }
    if (cmd.kind === 'explain') {
      const report = await runExplain(cmd, (line) => process.stderr.write(`lrp-lens: ${line}\n`));
      process.stdout.write(cmd.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report).join('\n')}\n`);
      return 0;
    }
    const result = await runGolden(cmd.manifest, {
      backend: cmd.backend,
      ...(cmd.reference !== undefined ? { reference: cmd.reference } : {}),
      ...(cmd.filter !== undefined ? { filter: cmd.filter } : {}),
      verbose: cmd.verbose,
    });
    return result.failed > 0 ? 1 : 0;
  } catch (e) {
    if (e instanceof UsageError) {
      // The synopsis of the command given (of all when there is none), and where its options are.
      const command = COMMANDS.find((c) => c.name === argv[0])?.name as CommandName | undefined;
      process.stderr.write(`lrp-lens: ${e.message}\n\n${usageHint(command)}\n`);
      return 2;
    }
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`lrp-lens: ${message.split('\n')[0]}\n`);
    if (verbose && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

// Output piped into a reader that stops early (| head): end quietly instead of crashing on EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw e;
  });
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
await Promise.all([flush(process.stdout), flush(process.stderr)]);
// Everything is written. Native handles (Dawn's WebGPU instance) can keep the event loop alive after the work is
// done; this timer does not hold the process itself, it only ends one that would otherwise linger.
setTimeout(() => process.exit(code), 500).unref();
