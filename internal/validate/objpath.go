package validate

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// get, getBool and getStr read a field of a KubeVirt object's nested maps (a VM, a DataVolume):
// nil, false or "" where it is absent or of another type. Settings are typed (internal/settings).
func get(m map[string]any, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(m, path...)
	return v
}

func getBool(m map[string]any, path ...string) bool {
	b, _, _ := unstructured.NestedBool(m, path...)
	return b
}

func getStr(m map[string]any, path ...string) string {
	s, _, _ := unstructured.NestedString(m, path...)
	return s
}
