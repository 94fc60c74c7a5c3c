// Package tracingtest runs a real OTLP/HTTP trace receiver for tests: an
// httptest server on loopback that decodes each export request with the
// collector's generated protobuf types and keeps the spans.
package tracingtest
