# Images come only from the company registry, where they are scanned and
# signed; anything else is an unreviewed supply chain.
package main

registry := "ghcr.io/acme/"

containers contains container if {
	some obj in input.objects
	some container in obj.spec.template.spec.containers
}

containers contains container if {
	some obj in input.objects
	some container in obj.spec.jobTemplate.spec.template.spec.containers
}

deny contains msg if {
	some container in containers
	not startswith(container.image, registry)
	msg := sprintf("container %s runs image %s, which is not from %s", [container.name, container.image, registry])
}
