/**
 * A problem with the catalog as a whole (missing file, unreadable JSON, a misspelled column, no rows):
 * nothing in it can be converted until the user fixes the file, so it is thrown rather than reported
 * per row. The message names the file and says what to do.
 */
export class CatalogFileError extends Error {
  override readonly name = 'CatalogFileError';

  constructor(
    readonly catalogPath: string,
    message: string,
  ) {
    super(message);
  }
}
