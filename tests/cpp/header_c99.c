/* The C API header is plain C99: this file is compiled with -std=c99
 * -pedantic -Werror by the tests' CMake and must stay warning-free. */
#include <pyconv/pyconv.h>

int pcv_header_c99_check(void) {
  int64_t dims[PCV_MAX_RANK];
  pcv_model *m = NULL;
  pcv_runner *r = NULL;
  pcv_status s = PCV_OK;
  (void)dims;
  (void)m;
  (void)r;
  return (int)s;
}
