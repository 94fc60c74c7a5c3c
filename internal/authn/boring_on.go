//go:build goexperiment.boringcrypto

package authn

// boringCrypto: crypto/rsa verifies with BoringSSL in this build, so RSA
// signatures are left to it.
const boringCrypto = true
