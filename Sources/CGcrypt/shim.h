#ifndef KEYWARD_CGCRYPT_SHIM_H
#define KEYWARD_CGCRYPT_SHIM_H

#include <gcrypt.h>

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

#endif
