"""Getting an environment onto Kubernetes: its image, its manifests, and the tools that send them (kubectl,
docker, gcloud)."""
