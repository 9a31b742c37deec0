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

// Command image builds Proxima's container images without a Docker engine:
// one image per component, proxima-scheduler and proxima-controller, each
// its binary built static (-trimpath, no VCS stamping, CGO off) for each
// platform, on a base layer of its own (the nonroot user 65532 and its
// home, /tmp; nothing else: the binaries need no libc, the cluster's CA
// comes with the ServiceAccount and a Prometheus CA with the telemetry
// args), with the binary as the entrypoint and 65532:65532 as the user.
// File times and the images' creation time are the commit's
// (-source-date-epoch), so one commit builds one digest. It writes, in
// -out, for each component NAME:
//
//   - NAME/oci/: the multi-platform image as an OCI image layout, named
//     REGISTRY/NAME:TAG (crane push NAME/oci REF; skopeo copy oci:NAME/oci REF);
//   - NAME.tar: the same layout as one archive (kind load image-archive,
//     k3s ctr images import);
//   - NAME.spdx.json: the modules in the binary (SPDX 2.3);
//
// and images.digest, each image's reference and digest.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Commands are the components, one image each.
var Commands = []string{"proxima-scheduler", "proxima-controller"}

// User is the images' user and group: distroless's nonroot.
const User = "65532:65532"

// Options say what to build.
type Options struct {
	// Repo is Proxima's module root; Out the directory written.
	Repo, Out string
	// Registry and Tag name the images: REGISTRY/COMPONENT:TAG.
	Registry, Tag string
	// Version and KubernetesVersion are stamped into the binaries.
	Version, KubernetesVersion string
	// SourceDateEpoch is the commit's time: every time in the images.
	SourceDateEpoch int64
	// Platforms are os/arch pairs.
	Platforms []v1.Platform
}

// Result is what Build wrote for one component's image.
type Result struct {
	Command, Ref, Layout, Archive, SBOM string
	Digest                              v1.Hash
}

func main() {
	var o Options
	platforms := flag.String("platforms", "linux/amd64,linux/arm64", "comma-separated os/arch")
	flag.StringVar(&o.Repo, "repo", "../..", "Proxima's module root")
	flag.StringVar(&o.Out, "out", "out/image", "output directory")
	flag.StringVar(&o.Registry, "registry", "ghcr.io/proxima-sched", "the images' registry and path: REGISTRY/proxima-scheduler:TAG")
	flag.StringVar(&o.Tag, "tag", "dev", "the images' tag")
	flag.StringVar(&o.Version, "version", "dev", "Proxima's version")
	flag.StringVar(&o.KubernetesVersion, "kubernetes-version", "", "the Kubernetes version stamped into the binaries")
	flag.Int64Var(&o.SourceDateEpoch, "source-date-epoch", 0, "every time in the image, in seconds since 1970 (the commit's time)")
	flag.Parse()
	for _, p := range strings.Split(*platforms, ",") {
		pl, err := v1.ParsePlatform(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "image:", err)
			os.Exit(2)
		}
		o.Platforms = append(o.Platforms, *pl)
	}
	rs, err := Build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	for _, r := range rs {
		fmt.Printf("%s@%s\n  layout  %s\n  archive %s\n  sbom    %s\n", r.Ref, r.Digest, r.Layout, r.Archive, r.SBOM)
	}
}

// Build builds the binaries and one image per component and writes them
// to o.Out.
func Build(o Options) ([]Result, error) {
	if len(o.Platforms) == 0 {
		return nil, errors.New("no platform")
	}
	created := time.Unix(o.SourceDateEpoch, 0).UTC()
	work, err := os.MkdirTemp("", "proxima-image")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	base, err := layer(baseFiles(), created)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	var out []Result
	var digests strings.Builder
	for _, cmd := range Commands {
		idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		var binaries []string
		for _, p := range o.Platforms {
			bin := filepath.Join(work, p.OS+"-"+p.Architecture, cmd)
			if err := goBuild(o, p, cmd, bin); err != nil {
				return nil, err
			}
			data, err := os.ReadFile(bin)
			if err != nil {
				return nil, err
			}
			binaries = append(binaries, bin)
			img, err := image(o, p, cmd, base, file{name: cmd, mode: 0o755, data: data}, created)
			if err != nil {
				return nil, err
			}
			pl := p
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &pl}})
		}
		digest, err := idx.Digest()
		if err != nil {
			return nil, err
		}
		r := Result{Command: cmd, Ref: o.Registry + "/" + cmd + ":" + o.Tag, Layout: filepath.Join(o.Out, cmd, "oci"),
			Archive: filepath.Join(o.Out, cmd+".tar"), SBOM: filepath.Join(o.Out, cmd+".spdx.json"), Digest: digest}
		if err := os.RemoveAll(r.Layout); err != nil {
			return nil, err
		}
		lp, err := layout.Write(r.Layout, empty.Index)
		if err != nil {
			return nil, err
		}
		if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
			// containerd (ctr import, kind load, k3s) names the image by
			// this; OCI tools by the tag.
			"io.containerd.image.name":          r.Ref,
			"org.opencontainers.image.ref.name": o.Tag,
		})); err != nil {
			return nil, err
		}
		if err := archive(r.Layout, r.Archive, created); err != nil {
			return nil, err
		}
		sbom, err := spdx(o, cmd, digest, binaries, created)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(r.SBOM, sbom, 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(&digests, "%s@%s\n", r.Ref, digest)
		out = append(out, r)
	}
	if err := os.WriteFile(filepath.Join(o.Out, "images.digest"), []byte(digests.String()), 0o644); err != nil {
		return nil, err
	}
	return out, nil
}

// image is one platform's image of one component: the base layer and the
// binary's, the binary its entrypoint.
func image(o Options, p v1.Platform, cmd string, base v1.Layer, bin file, created time.Time) (v1.Image, error) {
	bins, err := layer([]file{bin}, created)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "proxima: nonroot user 65532, /tmp"}},
		mutate.Addendum{Layer: bins, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "proxima: " + cmd}})
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.Created = v1.Time{Time: created}
	cfg.Config.Entrypoint = []string{"/" + cmd}
	cfg.Config.User = User
	cfg.Config.WorkingDir = "/"
	cfg.Config.Env = []string{"PATH=/"}
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   cmd,
		"org.opencontainers.image.version": o.Version,
		"org.opencontainers.image.source":  "https://github.com/proxima-sched/proxima",
		"org.opencontainers.image.created": created.Format(time.RFC3339),
	}
	return mutate.ConfigFile(img, cfg)
}

// goBuild builds one command for one platform, as reproducibly as Go
// builds: the same source and toolchain give the same bytes.
func goBuild(o Options, p v1.Platform, cmd, out string) error {
	ldflags := "-s -w -buildid= -X github.com/proxima-sched/proxima/pkg/version.Version=" + o.Version
	if o.KubernetesVersion != "" {
		ldflags += " -X k8s.io/component-base/version.gitVersion=" + o.KubernetesVersion +
			" -X k8s.io/client-go/pkg/version.gitVersion=" + o.KubernetesVersion
	}
	c := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, "./cmd/"+cmd)
	c.Dir = o.Repo
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOFLAGS=-mod=readonly")
	if p.Architecture == "arm" && p.Variant != "" {
		c.Env = append(c.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("go build %s for %s/%s: %w", cmd, p.OS, p.Architecture, err)
	}
	return nil
}

// file is one entry of a layer: a directory when data is nil and mode has
// fs.ModeDir.
type file struct {
	name     string
	mode     fs.FileMode
	uid, gid int
	data     []byte
}

// baseFiles are what the binaries need around them: a user to run as
// (65532, distroless's nonroot), its home, and /tmp.
func baseFiles() []file {
	return []file{
		{name: "etc", mode: fs.ModeDir | 0o755},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "home", mode: fs.ModeDir | 0o755},
		{name: "home/nonroot", mode: fs.ModeDir | 0o700, uid: 65532, gid: 65532},
		{name: "tmp", mode: fs.ModeDir | fs.ModeSticky | 0o777},
	}
}

// layer is a gzipped tar of files in name order, every time t.
func layer(files []file, t time.Time) (v1.Layer, error) {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: int64(f.mode.Perm()), Uid: f.uid, Gid: f.gid, ModTime: t, Format: tar.FormatPAX}
		if f.mode&fs.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		if f.mode.IsDir() {
			h.Typeflag, h.Name = tar.TypeDir, f.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// archive tars the layout directory: the OCI archive that containerd and
// Docker import.
func archive(dir, out string, t time.Time) error {
	var files []file
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			files = append(files, file{name: filepath.ToSlash(rel), mode: fs.ModeDir | 0o755})
			return nil
		}
		data, err := os.ReadFile(path)
		files = append(files, file{name: filepath.ToSlash(rel), mode: 0o644, data: data})
		return err
	})
	if err != nil {
		return err
	}
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, e := range files {
		h := &tar.Header{Name: e.name, Mode: int64(e.mode.Perm()), ModTime: t, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.mode.IsDir() {
			h.Typeflag, h.Name, h.Size = tar.TypeDir, e.name+"/", 0
		}
		if err := tw.WriteHeader(h); err != nil {
			f.Close()
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// spdx is an SPDX 2.3 document of the Go modules in one component's
// binaries.
func spdx(o Options, name string, digest v1.Hash, binaries []string, t time.Time) ([]byte, error) {
	type ref struct {
		Category string `json:"referenceCategory"`
		Type     string `json:"referenceType"`
		Locator  string `json:"referenceLocator"`
	}
	type pkg struct {
		Name             string `json:"name"`
		SPDXID           string `json:"SPDXID"`
		Version          string `json:"versionInfo,omitempty"`
		DownloadLocation string `json:"downloadLocation"`
		FilesAnalyzed    bool   `json:"filesAnalyzed"`
		ExternalRefs     []ref  `json:"externalRefs,omitempty"`
	}
	type rel struct {
		Element string `json:"spdxElementId"`
		Type    string `json:"relationshipType"`
		Related string `json:"relatedSpdxElement"`
	}
	id := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return "SPDXRef-Package-" + hex.EncodeToString(h[:8])
	}
	root := pkg{Name: name, SPDXID: "SPDXRef-Package-" + name, Version: o.Version, DownloadLocation: "https://github.com/proxima-sched/proxima",
		ExternalRefs: []ref{{"PACKAGE-MANAGER", "purl", "pkg:oci/" + name + "@" + digest.String()}}}
	pkgs := map[string]pkg{}
	var goVersion string
	for _, b := range binaries {
		info, err := buildinfo.ReadFile(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b, err)
		}
		goVersion = info.GoVersion
		for _, d := range info.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			key := d.Path + "@" + d.Version
			pkgs[key] = pkg{Name: d.Path, SPDXID: id(key), Version: d.Version, DownloadLocation: "NOASSERTION",
				ExternalRefs: []ref{{"PACKAGE-MANAGER", "purl", "pkg:golang/" + d.Path + "@" + d.Version}}}
		}
	}
	keys := make([]string, 0, len(pkgs))
	for k := range pkgs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	doc := map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
		"name":              name + " " + o.Version,
		"documentNamespace": "https://github.com/proxima-sched/proxima/spdx/" + name + "/" + o.Version + "/" + digest.Hex,
		"creationInfo":      map[string]any{"created": t.Format(time.RFC3339), "creators": []string{"Tool: proxima hack/image", "Tool: " + goVersion}},
		"documentDescribes": []string{root.SPDXID},
	}
	list := []pkg{root}
	rels := []rel{{"SPDXRef-DOCUMENT", "DESCRIBES", root.SPDXID}}
	for _, k := range keys {
		list = append(list, pkgs[k])
		rels = append(rels, rel{root.SPDXID, "DEPENDS_ON", pkgs[k].SPDXID})
	}
	doc["packages"], doc["relationships"] = list, rels
	return json.MarshalIndent(doc, "", "  ")
}
