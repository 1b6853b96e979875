# Mắt Thần — top-level build. Each area adds its own targets in a fragment
# (<folder>/make.mk or <folder>/<sub>/make.mk) and hooks them into the shared lists below:
#   PREREQS       things tests and the box need (clips, kernel, npm packages)
#   TESTS         extra test targets run by `make test` after `go test ./...`
#   BENCHES       targets that print `BENCH <name> <value> <unit>` lines
SHELL      := /bin/bash
GO         ?= go
OUT        ?= $(CURDIR)/out
export MATTHAN_OUT := $(OUT)
GOTESTFLAGS ?= -timeout 40m

# Debian packages the tests and `make run` need (see deps).
DEBIAN_PACKAGES := ffmpeg qemu-system-arm qemu-efi-aarch64 mtools dosfstools \
	e2fsprogs kmod fdisk cpio iproute2 chromium motion dnsutils mdns-scan chrony device-tree-compiler xz-utils busybox

PREREQS :=
TESTS   :=
BENCHES :=

.PHONY: all build deps test bench run dev image clean vet

all: build

include $(sort $(wildcard */make.mk */*/make.mk))

build:
	$(GO) build ./...

vet:
	$(GO) vet ./...

# deps installs the Debian packages when run as root, else says what to install.
deps: $(OUT)/.deps-ok
$(OUT)/.deps-ok:
	@mkdir -p $(OUT)
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else \
	    echo "missing Debian packages:$$missing"; \
	    echo "install them with: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
	@command -v npm >/dev/null || { if [ "$$(id -u)" = 0 ]; then apt-get install -y -q nodejs npm; \
	  else echo "install Node.js and npm: sudo apt-get install -y nodejs npm"; exit 1; fi; }
	$(GO) mod download
	@touch $@

test: deps $(PREREQS)
	MATTHAN_REQUIRE_TOOLS=1 $(GO) test $(GOTESTFLAGS) ./...
	@for t in $(TESTS); do $(MAKE) --no-print-directory $$t || exit 1; done

bench: deps $(PREREQS)
	@for b in $(BENCHES); do $(MAKE) --no-print-directory $$b || exit 1; done

clean:
	rm -rf $(OUT)
