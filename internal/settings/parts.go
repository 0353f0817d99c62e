package settings

// Part is one component of the stack seen through what components share: its switch, version and
// operator (a component without a version or operator has them empty).
type Part struct {
	// Name is the component's key in the stack ("kubevirt", "vlanFiltering", ...).
	Name    string
	On      bool
	Version string
	// operator is the component's operator field (nil for a component without one).
	operator **Operator
}

// Image is the operator image the component's settings name ("" if none).
func (p Part) Image() string {
	if p.operator == nil || *p.operator == nil {
		return ""
	}
	return (*p.operator).Image
}

// SetImage sets the component's operator image (resolving the image from the version). The operator
// settings are copied first, so a stack copied by value never changes the one it was copied from.
func (p Part) SetImage(image string) {
	if p.operator == nil {
		return
	}
	var o Operator
	if *p.operator != nil {
		o = **p.operator
	}
	o.Image = image
	*p.operator = &o
}

// Parts returns the stack's components by name, in the order of their names.
func (s *Stack) Parts() []Part {
	return []Part{
		{Name: "cdi", On: s.CDI.On(), Version: s.CDI.Version, operator: &s.CDI.Operator},
		{Name: "dashboard", On: s.Dashboard.On(), Version: s.Dashboard.Version, operator: &s.Dashboard.Operator},
		{Name: "descheduler", On: s.Descheduler.On(), Version: s.Descheduler.Version, operator: &s.Descheduler.Operator},
		{Name: "kubevirt", On: s.KubeVirt.On(), Version: s.KubeVirt.Version, operator: &s.KubeVirt.Operator},
		{Name: "multus", On: s.Multus.On(), Version: s.Multus.Version, operator: &s.Multus.Operator},
		{Name: "snapshotController", On: s.SnapshotController.On(), Version: s.SnapshotController.Version, operator: &s.SnapshotController.Operator},
		{Name: "vlanFiltering", On: s.VLANFiltering.On(), operator: &s.VLANFiltering.Operator},
		{Name: "volumeSnapshotController", On: s.VolumeSnapshotController.On()},
	}
}

// Part returns the named component.
func (s *Stack) Part(name string) (Part, bool) {
	for _, p := range s.Parts() {
		if p.Name == name {
			return p, true
		}
	}
	return Part{}, false
}
