#ifndef KEYWARD_CGCRYPT_SHIM_H
#define KEYWARD_CGCRYPT_SHIM_H

#include <gcrypt.h>
#include <pthread.h>
#include <stdlib.h>

/* gcry_control is variadic, which Swift cannot call; these wrappers give each
   command we use a fixed signature (GRDB wraps SQLite's variadics the same way). */

static inline gcry_error_t keyward_gcry_disable_secmem_warn(void) {
    return gcry_control(GCRYCTL_DISABLE_SECMEM_WARN, 0);
}

static inline gcry_error_t keyward_gcry_init_secmem(unsigned int bytes) {
    return gcry_control(GCRYCTL_INIT_SECMEM, bytes, 0);
}

static inline gcry_error_t keyward_gcry_resume_secmem_warn(void) {
    return gcry_control(GCRYCTL_RESUME_SECMEM_WARN, 0);
}

static inline gcry_error_t keyward_gcry_initialization_finished(void) {
    return gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
}

static inline int keyward_gcry_initialization_finished_p(void) {
    return gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P) ? 1 : 0;
}

static inline gcry_error_t keyward_gcry_cipher_setkey(gcry_cipher_hd_t h, const void *k, size_t l) {
    return gcry_cipher_setkey(h, k, l);
}

static inline gcry_error_t keyward_gcry_cipher_setiv(gcry_cipher_hd_t h, const void *iv, size_t l) {
    return gcry_cipher_setiv(h, iv, l);
}

static inline gcry_error_t keyward_gcry_cipher_authenticate(gcry_cipher_hd_t h, const void *a, size_t l) {
    return gcry_cipher_authenticate(h, a, l);
}

static inline gcry_error_t keyward_gcry_cipher_gettag(gcry_cipher_hd_t h, void *t, size_t l) {
    return gcry_cipher_gettag(h, t, l);
}

static inline gcry_error_t keyward_gcry_cipher_checktag(gcry_cipher_hd_t h, const void *t, size_t l) {
    return gcry_cipher_checktag(h, t, l);
}

static inline unsigned int keyward_gcry_err_code(gcry_error_t e) {
    return gcry_err_code(e);
}

static inline gcry_error_t keyward_gcry_suspend_secmem_warn(void) {
    return gcry_control(GCRYCTL_SUSPEND_SECMEM_WARN, 0);
}

/* Lets the secure pool grow in steps of `bytes` instead of failing when full. */
static inline gcry_error_t keyward_gcry_auto_expand_secmem(unsigned int bytes) {
    return gcry_control(GCRYCTL_AUTO_EXPAND_SECMEM, bytes, 0);
}

static inline gcry_error_t keyward_gcry_cipher_encrypt(gcry_cipher_hd_t h, void *out, size_t outl, const void *in, size_t inl) {
    return gcry_cipher_encrypt(h, out, outl, in, inl);
}

static inline gcry_error_t keyward_gcry_cipher_decrypt(gcry_cipher_hd_t h, void *out, size_t outl, const void *in, size_t inl) {
    return gcry_cipher_decrypt(h, out, outl, in, inl);
}

/* gcry_cipher_reset is a macro over gcry_cipher_ctl. */
static inline gcry_error_t keyward_gcry_cipher_reset(gcry_cipher_hd_t h) {
    return gcry_cipher_reset(h);
}

/* gcry_mac_reset is a macro over gcry_mac_ctl. */
static inline gcry_error_t keyward_gcry_mac_reset(gcry_mac_hd_t h) {
    return gcry_mac_ctl(h, GCRYCTL_RESET, NULL, 0);
}

static inline const char *keyward_gcry_strerror(gcry_error_t e) {
    return gcry_strerror(e);
}

/* Argon2 lanes in parallel: libgcrypt hands each lane of a slice to dispatch_job and then
   calls wait_all_jobs, so one thread per lane (p <= 16, bounded by the Swift caller) and a
   join per slice. A thread that cannot be created runs its job inline. */
typedef struct {
    pthread_t threads[16];
    int count;
} keyward_kdf_jobs;

typedef struct {
    gcry_kdf_job_fn_t fn;
    void *priv;
} keyward_kdf_job;

static void *keyward_kdf_thread(void *arg) {
    keyward_kdf_job job = *(keyward_kdf_job *)arg;
    free(arg);
    job.fn(job.priv);
    return NULL;
}

static int keyward_kdf_dispatch(void *context, gcry_kdf_job_fn_t fn, void *priv) {
    keyward_kdf_jobs *jobs = (keyward_kdf_jobs *)context;
    keyward_kdf_job *job = (keyward_kdf_job *)malloc(sizeof *job);
    if (job == NULL || jobs->count >= 16) {
        free(job);
        fn(priv);
        return 0;
    }
    job->fn = fn;
    job->priv = priv;
    if (pthread_create(&jobs->threads[jobs->count], NULL, keyward_kdf_thread, job) != 0) {
        free(job);
        fn(priv);
        return 0;
    }
    jobs->count++;
    return 0;
}

static int keyward_kdf_wait_all(void *context) {
    keyward_kdf_jobs *jobs = (keyward_kdf_jobs *)context;
    for (int i = 0; i < jobs->count; i++) pthread_join(jobs->threads[i], NULL);
    jobs->count = 0;
    return 0;
}

static inline gcry_error_t keyward_gcry_kdf_compute_threaded(gcry_kdf_hd_t h) {
    keyward_kdf_jobs jobs;
    jobs.count = 0;
    gcry_kdf_thread_ops_t ops = { &jobs, keyward_kdf_dispatch, keyward_kdf_wait_all };
    return gcry_kdf_compute(h, &ops);
}

#endif
