# A hostPath volume reaches into the node's file system: one compromised pod
# reads or writes every other pod's data on that node.
package main

pod_specs contains spec if {
	some obj in input.objects
	spec := obj.spec.template.spec
}

pod_specs contains spec if {
	some obj in input.objects
	spec := obj.spec.jobTemplate.spec.template.spec
}

deny contains msg if {
	some spec in pod_specs
	some volume in spec.volumes
	volume.hostPath
	msg := sprintf("volume %s mounts the node's path %s (hostPath); use an emptyDir or a PersistentVolumeClaim", [volume.name, volume.hostPath.path])
}
