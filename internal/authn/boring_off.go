//go:build !goexperiment.boringcrypto

package authn

// boringCrypto: crypto/rsa verifies with BoringSSL; not in this build.
const boringCrypto = false
