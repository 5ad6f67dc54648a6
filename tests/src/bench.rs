//! Shared by the benchmark tests (modules_bench, modules_pam_compare).

/// A C program: `pam SERVICE USER N` runs N pam_start + open_session +
/// close_session + pam_end transactions and prints the mean microseconds
/// per transaction.
pub const PAM_SESSION_LOOP_C: &str = r#"
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static int conv(int n, const struct pam_message **m, struct pam_response **r, void *d) {
    *r = calloc(n, sizeof **r); return PAM_SUCCESS; }
int main(int argc, char **argv) {
    long n = atol(argv[3]); struct pam_conv c = { conv, NULL };
    struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        pam_handle_t *h; if (pam_start(argv[1], argv[2], &c, &h) != PAM_SUCCESS) return 1;
        if (pam_open_session(h, 0) != PAM_SUCCESS) { fprintf(stderr, "open failed\n"); return 1; }
        pam_close_session(h, 0); pam_end(h, PAM_SUCCESS);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3) / n);
    return 0;
}
"#;

/// The median (the upper one for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
