# Container stack: build the image, run the compose stack and drive traffic through it.
# Needs root (installs docker.io and mmdebstrap when missing, starts its own dockerd).
.PHONY: test-container

## test-container: build and run the docker-compose stack end to end (see docs/container.md)
test-container:
	bash scripts/container-test.sh
