/*
Copyright The Proxima Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package serving serves proxima-controller's HTTP endpoints (metrics and
// the probe targets) over TLS, only to callers the apiserver authenticates
// and authorizes: a bearer token checked with a TokenReview, then a
// SubjectAccessReview for the request's verb on the path as a non-resource
// URL (controller-runtime's metrics filter). A caller such as Prometheus
// needs a ClusterRole with nonResourceURLs [/metrics, /probes/targets],
// verbs [get].
package serving

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
)

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Options say where and with which certificate to serve.
type Options struct {
	// BindAddress is host:port to listen on.
	BindAddress string
	// CertDir holds tls.crt and tls.key, reloaded when they change (a
	// mounted Secret, cert-manager); empty or without them, a self-signed
	// certificate is made at start-up and callers must skip verifying it
	// or pin it.
	CertDir string
}

// Serve serves handlers by path until ctx ends. It returns once the
// listener is open; errors after that are logged.
func Serve(ctx context.Context, cfg *rest.Config, o Options, handlers map[string]http.Handler) (net.Addr, error) {
	logger := klog.FromContext(ctx).WithName("serving")
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	filter, err := filters.WithAuthenticationAndAuthorization(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("delegated authentication and authorization: %w", err)
	}
	mux := http.NewServeMux()
	for path, h := range handlers {
		fh, err := filter(logger, h)
		if err != nil {
			return nil, err
		}
		mux.Handle(path, fh)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	crt, key := filepath.Join(o.CertDir, "tls.crt"), filepath.Join(o.CertDir, "tls.key")
	if _, err := os.Stat(crt); o.CertDir != "" && err == nil {
		w, err := certwatcher.New(crt, key)
		if err != nil {
			return nil, fmt.Errorf("serving certificate: %w", err)
		}
		go func() {
			if err := w.Start(ctx); err != nil {
				logger.Error(err, "Certificate watcher stopped")
			}
		}()
		tlsConfig.GetCertificate = w.GetCertificate
	} else {
		host, _, _ := net.SplitHostPort(o.BindAddress)
		if host == "" {
			host = "localhost"
		}
		certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(host, []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, err
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
		logger.Info("Serving with a self-signed certificate; mount tls.crt and tls.key in the certificate directory to serve a trusted one", "certDir", o.CertDir)
	}
	ln, err := net.Listen("tcp", o.BindAddress)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", o.BindAddress, err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(err, "Server stopped")
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	logger.Info("Serving", "address", ln.Addr().String(), "paths", len(handlers))
	return ln.Addr(), nil
}
