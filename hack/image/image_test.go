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

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// TestImage builds the images twice from this tree and opens what it
// wrote with go-containerregistry: the same digests both times; one image
// per component the install runs, each for both platforms, with that
// component as its entrypoint (and no other binary) as the install's user;
// each binary for this machine's architecture, taken out of its layer,
// runs --version and says the release and Kubernetes versions it was
// stamped with; the arm64 ones are static aarch64 ELFs; each archive holds
// its layout; each SBOM lists the Kubernetes modules.
func TestImage(t *testing.T) {
	o := Options{Repo: filepath.Join("..", ".."), Registry: "registry.example.com/proxima", Tag: "v0.0.0-test", Version: "v0.0.0-test",
		KubernetesVersion: "v1.36.0", SourceDateEpoch: 1_790_000_000,
		Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}}
	o.Out = t.TempDir()
	first, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	o.Out = t.TempDir()
	second, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || len(second) != 2 {
		t.Fatalf("%d and %d images, want 2", len(first), len(second))
	}
	for i := range first {
		if first[i].Digest != second[i].Digest {
			t.Errorf("%s: two builds of one tree: %s and %s, want one digest", first[i].Command, first[i].Digest, second[i].Digest)
		}
	}

	// What the install runs: per Deployment, its image's name, its
	// command, and the user.
	images := map[string]string{} // command → the image name's last element
	users := map[string]bool{}
	for _, f := range []string{"scheduler.yaml", "controller.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "manifests", "install", f))
		if err != nil {
			t.Fatal(err)
		}
		img := regexp.MustCompile(`image: \S+/([a-z-]+):\S+`).FindStringSubmatch(string(data))
		cmd := regexp.MustCompile(`command: \[/([^\]]+)\]`).FindStringSubmatch(string(data))
		if img == nil || cmd == nil {
			t.Fatalf("%s: no image or command", f)
		}
		images[cmd[1]] = img[1]
		for _, m := range regexp.MustCompile(`runAsUser: (\d+)`).FindAllStringSubmatch(string(data), -1) {
			users[m[1]] = true
		}
	}
	if len(images) != 2 || len(users) != 1 {
		t.Fatalf("install manifests run %v as %v: want two commands and one user", images, users)
	}
	for _, r := range first {
		if images[r.Command] != r.Command {
			t.Errorf("the install runs /%s from image %q, want the image %s", r.Command, images[r.Command], r.Command)
		}
		if want := o.Registry + "/" + r.Command + ":" + o.Tag; r.Ref != want {
			t.Errorf("image %s, want %s", r.Ref, want)
		}
		checkImage(t, o, r, users)
	}
}

// checkImage opens one component's layout, archive and SBOM.
func checkImage(t *testing.T, o Options, r Result, users map[string]bool) {
	lp, err := layout.FromPath(r.Layout)
	if err != nil {
		t.Fatal(err)
	}
	outer, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	outerManifest, err := outer.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(outerManifest.Manifests) != 1 || outerManifest.Manifests[0].Annotations["io.containerd.image.name"] != r.Ref {
		t.Fatalf("%s: index.json: %+v, want one index named %s", r.Command, outerManifest.Manifests, r.Ref)
	}
	idx, err := outer.ImageIndex(outerManifest.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := idx.Digest(); d != r.Digest {
		t.Errorf("%s: layout's index %s, Build said %s", r.Command, d, r.Digest)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, desc := range im.Manifests {
		platforms = append(platforms, desc.Platform.String())
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		uid, _, _ := strings.Cut(cfg.Config.User, ":")
		if !slices.Equal(cfg.Config.Entrypoint, []string{"/" + r.Command}) || !users[uid] || cfg.Architecture != desc.Platform.Architecture {
			t.Errorf("%s %s: entrypoint %v, user %s, architecture %s; want /%s as the manifests' user %v", r.Command, desc.Platform,
				cfg.Config.Entrypoint, cfg.Config.User, cfg.Architecture, r.Command, users)
		}
		dir := t.TempDir()
		files := extract(t, img, dir)
		for _, cmd := range Commands {
			mode, ok := files[cmd]
			switch {
			case cmd == r.Command && (!ok || mode&0o111 == 0):
				t.Errorf("%s %s: /%s missing or not executable (%v)", r.Command, desc.Platform, cmd, mode)
			case cmd != r.Command && ok:
				t.Errorf("%s %s: holds /%s too", r.Command, desc.Platform, cmd)
			}
		}
		if _, ok := files["etc/passwd"]; !ok {
			t.Errorf("%s %s: no /etc/passwd for user %s", r.Command, desc.Platform, cfg.Config.User)
		}
		bin := filepath.Join(dir, r.Command)
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatalf("%s %s: %v", r.Command, desc.Platform, err)
		}
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[desc.Platform.Architecture]
		static := !slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
		if f.Machine != want || !static {
			t.Errorf("%s %s: a %v ELF, static %v; want %v, static", r.Command, desc.Platform, f.Machine, static, want)
		}
		f.Close()
		if desc.Platform.Architecture == runtime.GOARCH {
			// --version: the release and the Kubernetes version stamped in.
			out, err := exec.Command(bin, "--version").CombinedOutput()
			want := r.Command + " " + o.Version + " (Kubernetes " + o.KubernetesVersion + ")"
			if err != nil || strings.TrimSpace(string(out)) != want {
				t.Errorf("%s %s: --version: %q, %v; want %s", r.Command, desc.Platform, out, err, want)
			}
		}
	}
	slices.Sort(platforms)
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("%s: platforms %v", r.Command, platforms)
	}

	// The archive is the layout.
	a, err := os.Open(r.Archive)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	names := map[string]bool{}
	tr := tar.NewReader(a)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
	if !names["oci-layout"] || !names["index.json"] || !names["blobs/sha256/"+r.Digest.Hex] {
		t.Errorf("%s: archive lacks oci-layout, index.json or the index blob: %d entries", r.Command, len(names))
	}

	var sbom struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name string `json:"name"`
		} `json:"packages"`
	}
	data, err := os.ReadFile(r.SBOM)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &sbom); err != nil {
		t.Fatal(err)
	}
	if sbom.SPDXVersion != "SPDX-2.3" || !slices.ContainsFunc(sbom.Packages, func(p struct {
		Name string `json:"name"`
	}) bool {
		return p.Name == "k8s.io/kubernetes"
	}) {
		t.Errorf("%s: SBOM %s with %d packages, want SPDX-2.3 listing k8s.io/kubernetes", r.Command, sbom.SPDXVersion, len(sbom.Packages))
	}
}

// extract writes an image's files to dir and returns their modes by name.
func extract(t *testing.T, img v1.Image, dir string) map[string]os.FileMode {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]os.FileMode{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag != tar.TypeReg {
				continue
			}
			path := filepath.Join(dir, filepath.FromSlash(h.Name))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, os.FileMode(h.Mode)&0o777); err != nil {
				t.Fatal(err)
			}
			out[h.Name] = os.FileMode(h.Mode)
		}
		rc.Close()
	}
	return out
}

// TestCLIArchives runs hack/krew/archives.sh (make release) for the Linux
// platforms, twice: the same bytes both times; each archive holds exactly
// LICENSE and a stripped kubectl-proxima of its platform, owned by 0, dated
// the commit's time; the amd64 one says the release's version; the sums
// file and the filled krew manifest carry the archives' sha256 and URLs,
// and no platform that was not built.
func TestCLIArchives(t *testing.T) {
	const tag = "v0.0.0-test"
	build := func() string {
		out := t.TempDir()
		c := exec.Command(filepath.Join("..", "krew", "archives.sh"), tag, out)
		c.Env = append(os.Environ(), "PLATFORMS=linux/amd64 linux/arm64", "SOURCE_DATE_EPOCH=1790000000")
		if log, err := c.CombinedOutput(); err != nil {
			t.Fatalf("archives.sh: %v\n%s", err, log)
		}
		return out
	}
	first, second := build(), build()
	sums := func(dir string) string {
		data, err := os.ReadFile(filepath.Join(dir, "kubectl-proxima_"+tag+"_checksums.txt"))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if sums(first) != sums(second) {
		t.Errorf("two builds differ:\n%s\n%s", sums(first), sums(second))
	}
	manifest, err := os.ReadFile(filepath.Join(first, "proxima.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(manifest), "{{") || strings.Contains(string(manifest), "darwin") {
		t.Errorf("krew manifest not filled in, or lists a platform not built:\n%s", manifest)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		name := "kubectl-proxima_" + tag + "_linux_" + arch + ".tar.gz"
		data, err := os.ReadFile(filepath.Join(first, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256Hex(data)
		if !strings.Contains(sums(first), sum+"  "+name) {
			t.Errorf("%s: sha256 %s not in the sums file", name, sum)
		}
		url := "https://github.com/proxima-sched/proxima/releases/download/" + tag + "/" + name
		if !regexp.MustCompile(regexp.QuoteMeta("uri: "+url) + `\s+sha256: ` + sum).Match(manifest) {
			t.Errorf("krew manifest lacks %s with sha256 %s", url, sum)
		}
		dir := t.TempDir()
		names := untar(t, data, dir)
		if !slices.Equal(names, []string{"LICENSE", "kubectl-proxima"}) {
			t.Errorf("%s holds %v, want LICENSE and kubectl-proxima", name, names)
		}
		bin := filepath.Join(dir, "kubectl-proxima")
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
		if f.Machine != want || f.Section(".symtab") != nil {
			t.Errorf("%s: a %v ELF, symbol table %v; want %v, stripped", name, f.Machine, f.Section(".symtab") != nil, want)
		}
		f.Close()
		if arch == runtime.GOARCH {
			out, err := exec.Command(bin, "--version").CombinedOutput()
			if err != nil || !strings.Contains(string(out), tag) {
				t.Errorf("kubectl-proxima --version: %q, %v; want %s", out, err, tag)
			}
		}
	}
}

func sha256Hex(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// untar writes a gzipped tar's files to dir and returns their names in
// archive order, checking owner and time.
func untar(t *testing.T, data []byte, dir string) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != 1790000000 {
			t.Errorf("%s: owner %d:%d, time %v; want 0:0 and the commit's time", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		names = append(names, h.Name)
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, h.Name), b, os.FileMode(h.Mode)&0o777); err != nil {
			t.Fatal(err)
		}
	}
	return names
}
