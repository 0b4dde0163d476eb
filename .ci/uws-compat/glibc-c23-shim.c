/*
 * The three C23 entry points that uWebSockets.js 20.57's Linux binaries import from glibc 2.38
 * (__isoc23_strtol, __isoc23_strtoul, __isoc23_sscanf), for machines whose glibc is older (Debian 12 has
 * 2.36). .ci/uws-compat/build.sh compiles this only there; src/ingress/uws-native.ts loads it with
 * RTLD_GLOBAL before the binary, whose GLIBC_2.38 version need build.sh has marked weak.
 *
 * C23 differs from C99 here only in accepting a "0b"/"0B" binary prefix when the base is 0 or 2 (and %b /
 * binary %i in scanf); the strto* functions implement that, the sscanf forwards to the C99 one (uWS
 * parses decimal numbers and addresses with it).
 *
 * It is also a (empty) Node-API module, so that process.dlopen() keeps it loaded instead of closing it
 * with "Module did not self-register".
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Where a C23 binary prefix starts (after blanks and a sign), or NULL when there is none. */
static const char *binary_digits(const char *nptr, int base) {
  if (base != 0 && base != 2) return NULL;
  const char *p = nptr;
  while (isspace((unsigned char)*p)) p++;
  if (*p == '+' || *p == '-') p++;
  if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B') && (p[2] == '0' || p[2] == '1')) return p + 2;
  return NULL;
}

long __isoc23_strtol(const char *nptr, char **endptr, int base) {
  const char *digits = binary_digits(nptr, base);
  if (digits == NULL) return strtol(nptr, endptr, base);
  int negative = 0;
  for (const char *p = nptr; p < digits; p++) negative |= (*p == '-');
  /* Parse the magnitude unsigned so that LONG_MIN in binary is still representable. */
  unsigned long magnitude = strtoul(digits, endptr, 2);
  return negative ? (long)(0UL - magnitude) : (long)magnitude;
}

unsigned long __isoc23_strtoul(const char *nptr, char **endptr, int base) {
  const char *digits = binary_digits(nptr, base);
  if (digits == NULL) return strtoul(nptr, endptr, base);
  int negative = 0;
  for (const char *p = nptr; p < digits; p++) negative |= (*p == '-');
  unsigned long magnitude = strtoul(digits, endptr, 2);
  return negative ? 0UL - magnitude : magnitude;
}

int __isoc23_sscanf(const char *s, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  int n = vsscanf(s, format, ap);
  va_end(ap);
  return n;
}

/* Node-API registration: exports nothing (the module object is returned as it came). */
void *napi_register_module_v1(void *env, void *exports) {
  (void)env;
  return exports;
}
