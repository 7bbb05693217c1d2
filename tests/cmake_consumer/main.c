/* Calls the installed library: prints its version and checks that a bad
 * call returns a status instead of crashing. */
#include <pyconv/pyconv.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  pcv_model *m = (pcv_model *)&m; /* must be reset to NULL on failure */
  pcv_status s = pcv_model_load("/nonexistent/model.pcv", &m);
  printf("pyconv %s\n", pcv_version());
  if (s == PCV_OK || m != NULL || strlen(pcv_last_error()) == 0) {
    fprintf(stderr, "loading a missing file: expected an error, got %s\n", pcv_status_string(s));
    return 1;
  }
  printf("missing file: %s: %s\n", pcv_status_string(s), pcv_last_error());
  return 0;
}
