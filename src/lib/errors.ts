/** The error the `lrp-lens` package throws for what is wrong with its inputs or the environment. */
export class LrpLensError extends Error {
  override name = 'LrpLensError';
}
