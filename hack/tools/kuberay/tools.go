//go:build tools

// Package tools pins KubeRay's operator (and its CRDs) that hack/controlplane/ensure-assets.sh builds.
package tools

import _ "github.com/ray-project/kuberay/ray-operator"
