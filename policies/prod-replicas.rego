# Production runs at least two pods, so a node failure or drain never takes
# a service down. A Deployment the HorizontalPodAutoscaler scales is judged
# by the autoscaler's minimum.
package main

scaled(name) if {
	some hpa in input.objects
	hpa.kind == "HorizontalPodAutoscaler"
	hpa.spec.scaleTargetRef.name == name
}

deny contains msg if {
	input.target.env == "prod"
	some obj in input.objects
	obj.kind == "Deployment"
	not scaled(obj.metadata.name)
	replicas := object.get(obj.spec, "replicas", 1)
	replicas < 2
	msg := sprintf("Deployment %s runs %d replica(s) in prod; prod needs at least 2", [obj.metadata.name, replicas])
}

deny contains msg if {
	input.target.env == "prod"
	some obj in input.objects
	obj.kind == "HorizontalPodAutoscaler"
	min := object.get(obj.spec, "minReplicas", 1)
	min < 2
	msg := sprintf("HorizontalPodAutoscaler %s may scale to %d replica(s) in prod; prod needs at least 2", [obj.metadata.name, min])
}
