# The user's entry points:
#   make run    boot TF-A -> OP-TEE -> hypervisor -> Linux under QEMU to a shell (`poweroff` ends it)
#   make test   every test: lint, unit, fuzz smoke, system tests on the real stack
#   make bench  image size, carve-out, stage-2 pages, EL2 instructions to the host's first instruction,
#               EL2 instructions per trapped call and function ID (payload workload, Linux to power-off)
#               beside pKVM's (Linux with kvm-arm.mode=protected, same run), all-EL instructions per
#               OP-TEE request with / without a hypervisor, the goal table (~90 s; docs/bench.md)
#   make xtest  OP-TEE's full xtest (regression+pkcs11) through the hypervisor, ~10 min; prints its counts
#   make soak   the soak (not in `make test`, ~10-20 min): the payload on 4 CPUs hammering FF-A, memory
#               and PSCI; Linux booted and powered off 20 times; 4 Linux threads making requests to
#               OP-TEE at once. Summary in build/logs/soak-summary.txt (README "Soak")
# The stack (packages, TF-A, OP-TEE, kernel, initramfs) is installed and built by ci/ scripts
# into build/ and cached there; the first run takes a few minutes, later ones seconds.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(CURDIR)
BUILD := $(ROOT)/build
STACK_ENV := $(BUILD)/stack/stack.env
FW_TARGET := aarch64-unknown-none-softfloat
PAYLOAD_TARGET := aarch64-unknown-none
CARGO ?= cargo
HYP_ELF := target/$(FW_TARGET)/release/hypervisor-image
HYP_BIN := $(BUILD)/hypervisor.bin
FLASH := $(BUILD)/flash.bin
LINUX_DTB := $(BUILD)/linux.dtb
PAYLOAD_ELF := target/$(PAYLOAD_TARGET)/release/el1-payload
PAYLOAD_BIN := $(BUILD)/payload.bin
PAYLOAD_DTB := $(BUILD)/payload.dtb
# The payload on 2 CPUs with one host thread each (a real race for the TX-rewrite attack, retried
# up to 64 batches until it shows).
PAYLOAD_DTB_SMP2 := $(BUILD)/payload-smp2.dtb
# The payload on 1 CPU calling PSCI SYSTEM_RESET instead of its cases (tests/system/tests/reset.rs).
PAYLOAD_RESET_DTB := $(BUILD)/payload-reset.dtb
# The payload on 1 CPU as a host that negotiates FF-A v1.0 / v1.1 (tests/system/tests/ffa_versions.rs).
PAYLOAD_FFA10_DTB := $(BUILD)/payload-ffa10.dtb
PAYLOAD_FFA11_DTB := $(BUILD)/payload-ffa11.dtb
# The payload on 1 CPU behind QEMU's SMMUv3, running its cases or programming QEMU's edu
# device to DMA (tests/system/tests/smmu.rs).
PAYLOAD_SMMU_DTB := $(BUILD)/payload-smmu.dtb
PAYLOAD_DMA_DTB := $(BUILD)/payload-dma.dtb
# Every configuration runs with QEMU's SMMUv3 (QEMU_IOMMU=smmuv3, ci/config.sh), so the payload's
# bootargs say so (`dma-behind-iommu`: the root complex is the host's, behind the SMMU); this one
# DTB is the machine without it (`ci/qemu.sh --iommu none`), whose root complex the DMA policy
# withholds (tests/system/tests/payload.rs `payload_dma_attacker_with_edu`).
PAYLOAD_NOSMMU_DTB := $(BUILD)/payload-nosmmu.dtb
PAYLOAD_ARGS := payload dma-behind-iommu
# The host's initramfs for the system tests (ci/mkinitramfs.sh), built in this tree: the DTBs
# name its size, so it must not change under them when build/stack is a cache shared by trees.
HOST_INITRD := $(BUILD)/initramfs.cpio.gz
# The CPU matrix (tests/system/tests/cpu_matrix.rs): the payload on 1 CPU and Linux on 2 CPUs,
# run with `ci/qemu.sh --cpu MODEL` for each model.
CPU_PAYLOAD_DTB := $(BUILD)/cpu-payload.dtb
CPU_LINUX_DTB := $(BUILD)/cpu-linux.dtb
# Linux running tests/teebench (200 requests to OP-TEE from user space) and powering off.
TEEBENCH_DTB := $(BUILD)/linux-teebench.dtb
# The instruction-counting QEMU plugin (tools/el-counter, ci/build-plugin.sh): `make bench`'s
# meter, and the system tests' witness of which calls reached EL3 (tests/system/tests/payload.rs).
EL_COUNTER := $(BUILD)/plugins/libel-counter.so
# Crafted inputs the hypervisor must refuse (ci/mkbadinputs.sh, tests/system/tests/bad_input.rs).
BAD_DIR := $(BUILD)/bad-inputs
# Host kernel, initrd and bootargs for `make run` (default: Debian sid's kernel, our initramfs).
KERNEL ?=
INITRD ?=
BOOTARGS ?= console=ttyAMA0
SMP ?= 4
# Boot-chain variants of `make run` (README, docs/test-stack.md): CHAIN=tfa|uboot (U-Boot as BL33,
# boot.scr on a virtio disk), GIC=3|2 (gic-version=2 with the GICv2 TF-A/OP-TEE build),
# FIRMWARE=tfa|none (none: the hypervisor is QEMU's -kernel, no EL3, no SPMC).
# SPMC=el1|el3 picks the Secure world (docs/spmc.md): el1, OP-TEE as the SPMC at S-EL1; el3,
# TF-A's EL3 SPMC with OP-TEE as its S-EL1 partition (GICv3, the TF-A chain only).
CHAIN ?= tfa
GIC ?= 3
FIRMWARE ?= tfa
SPMC ?= el1
FLASH_GICV2 := $(BUILD)/flash-gicv2.bin
# The EL3 SPMC's flash and the payload's DTB for it (`spmc=el3` in its bootargs: the
# expectations that differ between the SPMCs, tests/system/tests/spmc_el3.rs). The Linux runs on
# it reuse the DTBs above: QEMU's DTB does not depend on the firmware in the flash.
FLASH_EL3SPMC := $(BUILD)/flash-el3spmc.bin
EL3SPMC_PAYLOAD_DTB := $(BUILD)/payload-el3spmc.dtb
# xtest's smaller subset for the EL3 SPMC (the OP-TEE subset takes three times as long there):
# cases whose sessions and invocations carry memrefs, temporary and registered shared memory,
# each an FFA_MEM_SHARE and FFA_MEM_RECLAIM through the proxy and TF-A's memory path.
EL3SPMC_XTEST_SUBSET := -t regression 1002 1004 1008 1016 1017 1018 1025 1032
EL3SPMC_XTEST_DTB := $(BUILD)/xtest-el3spmc.dtb
RUN_FLASH := $(if $(filter el3,$(SPMC)),$(FLASH_EL3SPMC),$(if $(filter 2,$(GIC)),$(FLASH_GICV2),$(FLASH)))
RUN_DEPS := $(if $(filter none,$(FIRMWARE)),hypervisor stack,$(if $(filter el3,$(SPMC)),flash-el3spmc,$(if $(filter 2,$(GIC)),flash-gicv2,flash)))
# The boot-chain tests' inputs (`make chains`, tests/system/tests/chains.rs).
UBOOT_TEST := $(BUILD)/uboot-test
DIRECT_DTB := $(BUILD)/direct-test.dtb
GICV2_DTB := $(BUILD)/gicv2-test.dtb
LINUX_TEST_DTB := $(BUILD)/linux-test.dtb
# OP-TEE's xtest as a client through the hypervisor (tests/system/tests/xtest.rs): its initramfs
# (ci/fetch-xtest-debs.sh, ci/mkinitramfs-xtest.sh) and one DTB per run, whose bootargs carry
# xtest's arguments after " -- " (/init passes them on), for XTEST_SMP CPUs (the tests run
# `ci/qemu.sh --smp 2 --mttcg`). `make test` runs the subset (~1.5 min), `make xtest` the full
# default run (regression+pkcs11, ~7 min).
XTEST_INITRD := $(BUILD)/stack/initramfs-xtest.cpio.gz
XTEST_SUBSET := -t regression _10 _20 4001 4002 4003 4004 4005 _600
XTEST_DTB := $(BUILD)/xtest-subset.dtb
XTEST_FULL_DTB := $(BUILD)/xtest-full.dtb
XTEST_SMP := 2

# `make soak` (ci/soak.sh, tests/system/tests/soak.rs, README "Soak"): the payload's rounds on
# every CPU (`soak=<n>` in its bootargs), the Linux boots in a row, and teebench's threads
# (`teebench=<requests per thread>:<threads>`), all on SOAK_SMP CPUs. The soak's initramfs is
# built from this tree's teebench even when build/stack is a cache shared with other trees.
SOAK_ROUNDS ?= 6000
SOAK_BOOTS ?= 20
SOAK_TEE_REQUESTS ?= 1000
SOAK_TEE_THREADS ?= 4
SOAK_SMP := 4
SOAK_INITRD := $(BUILD)/initramfs-soak.cpio.gz
SOAK_PAYLOAD_DTB := $(BUILD)/payload-soak.dtb
SOAK_TEEBENCH_DTB := $(BUILD)/linux-teebench-soak.dtb
# A short payload soak on 4 CPUs whose secondaries also go off and are started again
# (tests/system/tests/soak.rs `cpu_off_and_on_again_under_load`, in `make test`).
SOAK_CPU_OFF_DTB := $(BUILD)/payload-soak-cpu-off.dtb

# The system tests' inputs, one key=path each, written to one manifest by ci/mkartifacts.sh
# (`make artifacts`) and read by tests/system/src/artifacts.rs, which documents every key.
# `$$KERNEL_IMAGE` comes from the stack's stack.env, sourced by the rule (`initrd` is HOST_INITRD).
ARTIFACTS := $(BUILD)/artifacts.manifest
ARTIFACTS_LIST = \
	flash=$(FLASH) hypervisor_image=$(HYP_BIN) linux_image=$$KERNEL_IMAGE initrd=$(HOST_INITRD) \
	linux_dtb=$(LINUX_TEST_DTB) teebench_dtb=$(TEEBENCH_DTB) \
	payload_image=$(PAYLOAD_BIN) payload_dtb=$(PAYLOAD_DTB) payload_dtb_smp2=$(PAYLOAD_DTB_SMP2) \
	el_counter_plugin=$(EL_COUNTER) payload_reset_dtb=$(PAYLOAD_RESET_DTB) \
	payload_ffa10_dtb=$(PAYLOAD_FFA10_DTB) payload_ffa11_dtb=$(PAYLOAD_FFA11_DTB) \
	payload_smmu_dtb=$(PAYLOAD_SMMU_DTB) payload_dma_dtb=$(PAYLOAD_DMA_DTB) \
	bad_stub_image=$(BAD_DIR)/stub.Image bad_no_module_dtb=$(BAD_DIR)/no-kernel-module.dtb \
	bad_magic_dtb=$(BAD_DIR)/bad-magic.dtb bad_magic_module=$(BAD_DIR)/not-an-Image.cpio.gz \
	bad_too_large_dtb=$(BAD_DIR)/too-large.dtb bad_too_large_image=$(BAD_DIR)/too-large.Image \
	bad_no_cpus_dtb=$(BAD_DIR)/no-cpus.dtb bad_cpu_reg_dtb=$(BAD_DIR)/bad-cpu-reg.dtb \
	bad_bootable_dtb=$(BAD_DIR)/bootable.dtb bad_missing_dtb_flash=$(BAD_DIR)/missing-dtb.flash.bin \
	bad_corrupt_dtb_flash=$(BAD_DIR)/corrupt-dtb.flash.bin \
	uboot_flash=$(UBOOT_TEST)/flash.bin uboot_disk=$(UBOOT_TEST)/disk.img direct_dtb=$(DIRECT_DTB) \
	gicv2_flash=$(FLASH_GICV2) gicv2_dtb=$(GICV2_DTB) \
	xtest_initrd=$(XTEST_INITRD) xtest_dtb=$(XTEST_DTB) xtest_full_dtb=$(XTEST_FULL_DTB) \
	soak_payload_dtb=$(SOAK_PAYLOAD_DTB) soak_initrd=$(SOAK_INITRD) soak_teebench_dtb=$(SOAK_TEEBENCH_DTB) \
	soak_cpu_off_dtb=$(SOAK_CPU_OFF_DTB) payload_nosmmu_dtb=$(PAYLOAD_NOSMMU_DTB) \
	cpu_payload_dtb=$(CPU_PAYLOAD_DTB) cpu_linux_dtb=$(CPU_LINUX_DTB) \
	el3spmc_flash=$(FLASH_EL3SPMC) el3spmc_payload_dtb=$(EL3SPMC_PAYLOAD_DTB) \
	el3spmc_xtest_dtb=$(EL3SPMC_XTEST_DTB)

# Host-side crates (unit tests, clippy) and firmware crates (aarch64 builds, clippy).
HOST_EXCLUDES := --exclude boot
FW_CRATES := -p boot -p hypervisor -p host-loader -p fdt-rw -p ffa-spec -p platform

.PHONY: all hypervisor image payload plugin toolchain stack flash flash-gicv2 flash-el3spmc spmc-el3 dtbs host-initrd chains xtest-inputs xtest run test test-lint test-unit \
        test-fuzz test-bench-tools test-system bad-inputs artifacts bench clean soak soak-inputs

all: hypervisor

toolchain:
	@rustup target list --installed | grep -qx $(FW_TARGET) || rustup target add $(FW_TARGET)
	@rustup target list --installed | grep -qx $(PAYLOAD_TARGET) || rustup target add $(PAYLOAD_TARGET)
	@rustup component list --installed | grep -q '^llvm-tools' || rustup component add llvm-tools
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

# The hypervisor image: a flat arm64 Image (header, code, data) from the PIE ELF.
hypervisor: toolchain
	$(CARGO) build -p boot --release --target $(FW_TARGET)
	@mkdir -p $(BUILD)
	"$$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy" -O binary $(HYP_ELF) $(HYP_BIN)
	@echo "hypervisor image: $(HYP_BIN) ($$(stat -c %s $(HYP_BIN)) bytes)"

# One image per board (the early console and default DTB address differ; docs/boards.md):
#   make image PLATFORM=qemu-virt|juno|rdn2-fvp   -> build/hypervisor-<platform>.bin
PLATFORM ?= qemu-virt
image: toolchain
	$(CARGO) build -p boot --release --target $(FW_TARGET) \
	    $(if $(filter-out qemu-virt,$(PLATFORM)),--features platform/$(PLATFORM))
	@mkdir -p $(BUILD)
	"$$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy" -O binary $(HYP_ELF) $(BUILD)/hypervisor-$(PLATFORM).bin
	@echo "hypervisor image for $(PLATFORM): $(BUILD)/hypervisor-$(PLATFORM).bin"

# The EL1 test payload, booted by the hypervisor in place of Linux.
payload: toolchain stack
	$(CARGO) build -p el1-payload --release --target $(PAYLOAD_TARGET)
	@mkdir -p $(BUILD)
	bash tests/payload/mkimage.sh $(PAYLOAD_ELF) $(PAYLOAD_BIN)

# Packages, TF-A + OP-TEE from Debian source, Debian sid's kernel, the initramfs (cached).
stack:
	bash ci/stack.sh

# TF-A's flash with the hypervisor as BL33 (fiptool swaps BL33 in the cached FIP: ~1 s).
flash: hypervisor stack
	bash ci/mkflash.sh $(HYP_BIN) $(FLASH)

# The host's initramfs (cached: a no-op when up to date).
host-initrd: stack
	bash ci/mkinitramfs.sh $(HOST_INITRD)

dtbs: flash payload stack host-initrd
	source $(STACK_ENV); \
	QEMU_SMP=$(SMP) bash ci/mkdtb.sh $(FLASH) $${KERNEL_IMAGE} $(HOST_INITRD) "$(BOOTARGS) autotest" $(LINUX_TEST_DTB); \
	QEMU_SMP=$(SMP) bash ci/mkdtb.sh $(FLASH) $(PAYLOAD_BIN) - "$(PAYLOAD_ARGS)" $(PAYLOAD_DTB); \
	QEMU_IOMMU=none QEMU_SMP=$(SMP) bash ci/mkdtb.sh $(FLASH) $(PAYLOAD_BIN) - "payload" $(PAYLOAD_NOSMMU_DTB); \
	QEMU_SMP=2 bash ci/mkdtb.sh $(FLASH) $(PAYLOAD_BIN) - "$(PAYLOAD_ARGS) race-batches=64" $(PAYLOAD_DTB_SMP2); \
	QEMU_SMP=1 bash ci/mkdtb.sh $(FLASH) $(PAYLOAD_BIN) - "$(PAYLOAD_ARGS) system-reset" $(PAYLOAD_RESET_DTB); \
	QEMU_SMP=1 bash ci/mkdtb.sh $(FLASH) $(PAYLOAD_BIN) - "$(PAYLOAD_ARGS) ffa-version=1.0" $(PAYLOAD_FFA10_DTB); \
	QEMU_SMP=1 bash ci/mkdtb.sh $(FLASH) $(PAYLOAD_BIN) - "$(PAYLOAD_ARGS) ffa-version=1.1" $(PAYLOAD_FFA11_DTB); \
	QEMU_SMP=$(SOAK_SMP) bash ci/mkdtb.sh $(FLASH) $(PAYLOAD_BIN) - "$(PAYLOAD_ARGS) soak=128 soak-cpu-off" $(SOAK_CPU_OFF_DTB); \
	QEMU_SMP=1 bash ci/mkdtb.sh $(FLASH) $(PAYLOAD_BIN) - "$(PAYLOAD_ARGS)" $(CPU_PAYLOAD_DTB); \
	QEMU_SMP=2 bash ci/mkdtb.sh $(FLASH) $${KERNEL_IMAGE} $(HOST_INITRD) "$(BOOTARGS) autotest" $(CPU_LINUX_DTB); \
	QEMU_IOMMU=smmuv3 QEMU_SMP=1 bash ci/mkdtb.sh $(FLASH) $(PAYLOAD_BIN) - "payload dma-behind-iommu" $(PAYLOAD_SMMU_DTB); \
	QEMU_IOMMU=smmuv3 QEMU_SMP=1 bash ci/mkdtb.sh $(FLASH) $(PAYLOAD_BIN) - "payload dma-attack dma-behind-iommu" $(PAYLOAD_DMA_DTB); \
	QEMU_SMP=$(SMP) bash ci/mkdtb.sh $(FLASH) $${KERNEL_IMAGE} $(HOST_INITRD) "$(BOOTARGS) teebench=200" $(TEEBENCH_DTB)

# The el-counter plugin (cached: a no-op when up to date).
plugin: stack
	bash ci/build-plugin.sh

# Boot inputs the hypervisor must refuse (tests/system/tests/bad_input.rs): ~1 s.
bad-inputs: flash stack
	bash ci/mkbadinputs.sh $(FLASH) $(BAD_DIR) $(HYP_BIN)

# TF-A + OP-TEE built for gic-version=2 (cached apart: about a minute the first time, then
# nothing), with the hypervisor as BL33.
flash-gicv2: hypervisor stack
	bash ci/build-secure-world.sh --gic 2
	bash ci/mkflash.sh --gic 2 $(HYP_BIN) $(FLASH_GICV2)

# TF-A's EL3 SPMC with OP-TEE as its partition (cached apart: about two minutes the first time,
# then nothing), with the hypervisor as BL33.
flash-el3spmc: hypervisor stack
	bash ci/build-secure-world.sh --spmc el3
	bash ci/mkflash.sh --spmc el3 $(HYP_BIN) $(FLASH_EL3SPMC)

# The EL3 SPMC runs' own inputs (tests/system/tests/spmc_el3.rs): its flash, the payload's DTB,
# the DTB of its xtest subset (xtest's initramfs from xtest-inputs).
spmc-el3: flash-el3spmc payload xtest-inputs
	QEMU_SMP=$(SMP) bash ci/mkdtb.sh $(FLASH_EL3SPMC) $(PAYLOAD_BIN) - "$(PAYLOAD_ARGS) spmc=el3" $(EL3SPMC_PAYLOAD_DTB)
	source $(STACK_ENV); \
	QEMU_SMP=$(XTEST_SMP) bash ci/mkdtb.sh $(FLASH_EL3SPMC) $${KERNEL_IMAGE} $(XTEST_INITRD) "$(BOOTARGS) -- $(EL3SPMC_XTEST_SUBSET)" $(EL3SPMC_XTEST_DTB)

# The boot-chain tests' inputs: U-Boot flash + disk with boot.scr, the DTB for booting without
# firmware, the GICv2 DTB (about 1 s once the GICv2 firmware is cached).
chains: hypervisor stack flash-gicv2 host-initrd
	source $(STACK_ENV); A="$(BOOTARGS) autotest"; \
	QEMU_SMP=$(SMP) bash ci/mkuboot.sh $(HYP_BIN) $${KERNEL_IMAGE} $(HOST_INITRD) "$$A" $(UBOOT_TEST); \
	QEMU_SMP=$(SMP) bash ci/mkdtb.sh - $${KERNEL_IMAGE} $(HOST_INITRD) "$$A" $(DIRECT_DTB); \
	QEMU_SMP=$(SMP) QEMU_GIC=2 bash ci/mkdtb.sh $(FLASH_GICV2) $${KERNEL_IMAGE} $(HOST_INITRD) "$$A" $(GICV2_DTB)

# The manifest of every system-test input (about a millisecond: it lists, it builds nothing).
artifacts: stack
	source $(STACK_ENV); bash ci/mkartifacts.sh $(ARTIFACTS) $(ARTIFACTS_LIST)

# The xtest runs' inputs: the .debs (cached), the initramfs (~2 s when its inputs change), 2 DTBs.
xtest-inputs: flash stack
	bash ci/fetch-xtest-debs.sh
	bash ci/mkinitramfs-xtest.sh $(XTEST_INITRD)
	source $(STACK_ENV); \
	QEMU_SMP=$(XTEST_SMP) bash ci/mkdtb.sh $(FLASH) $${KERNEL_IMAGE} $(XTEST_INITRD) "$(BOOTARGS) -- $(XTEST_SUBSET)" $(XTEST_DTB); \
	QEMU_SMP=$(XTEST_SMP) bash ci/mkdtb.sh $(FLASH) $${KERNEL_IMAGE} $(XTEST_INITRD) "$(BOOTARGS)" $(XTEST_FULL_DTB)

# xtest's full default run under the hypervisor; prints the counts (cases, subtests, FF-A calls).
xtest: xtest-inputs artifacts
	$(CARGO) test -p system-tests --test xtest -- --ignored --nocapture xtest_full_run

# The soak's inputs: its initramfs (~2 s when teebench changes) and 2 DTBs.
soak-inputs: flash payload stack
	bash ci/mkinitramfs.sh $(SOAK_INITRD)
	source $(STACK_ENV); \
	QEMU_SMP=$(SOAK_SMP) bash ci/mkdtb.sh $(FLASH) $(PAYLOAD_BIN) - "$(PAYLOAD_ARGS) soak=$(SOAK_ROUNDS) soak-cpu-off" $(SOAK_PAYLOAD_DTB); \
	QEMU_SMP=$(SOAK_SMP) bash ci/mkdtb.sh $(FLASH) $${KERNEL_IMAGE} $(SOAK_INITRD) \
	    "$(BOOTARGS) teebench=$(SOAK_TEE_REQUESTS):$(SOAK_TEE_THREADS)" $(SOAK_TEEBENCH_DTB)

# The three soak runs one after the other (each a system test marked #[ignore], so `make test`
# skips them), then the summary.
soak: dtbs soak-inputs artifacts
	SOAK_BOOTS=$(SOAK_BOOTS) bash ci/soak.sh $(BUILD)/logs/soak-summary.txt

# CHAIN / GIC / FIRMWARE pick the boot chain (see above); every one ends in ci/qemu.sh.
run: $(RUN_DEPS)
	source $(STACK_ENV); \
	K="$(KERNEL)"; K=$${K:-$$KERNEL_IMAGE}; I="$(INITRD)"; I=$${I:-$$INITRAMFS}; \
	export QEMU_SMP=$(SMP) QEMU_GIC=$(GIC); \
	case "$(SPMC)/$(CHAIN)/$(FIRMWARE)/$(GIC)" in el1/*|el3/tfa/tfa/3) ;; \
	*) echo "make run: SPMC=$(SPMC): el1, or el3 with CHAIN=tfa FIRMWARE=tfa GIC=3" >&2; exit 2 ;; \
	esac; \
	case "$(CHAIN)/$(FIRMWARE)" in \
	tfa/tfa) bash ci/mkdtb.sh $(RUN_FLASH) "$$K" "$$I" "$(BOOTARGS)" $(LINUX_DTB); \
	    set -- --flash $(RUN_FLASH) --dtb $(LINUX_DTB) --kernel "$$K" --initrd "$$I" \
	        --secure-log $(BUILD)/secure.log ;; \
	uboot/tfa) bash ci/mkuboot.sh --gic $(GIC) $(HYP_BIN) "$$K" "$$I" "$(BOOTARGS)" $(BUILD)/uboot; \
	    set -- --flash $(BUILD)/uboot/flash.bin --disk $(BUILD)/uboot/disk.img \
	        --secure-log $(BUILD)/secure.log ;; \
	tfa/none) bash ci/mkdtb.sh - "$$K" "$$I" "$(BOOTARGS)" $(LINUX_DTB); \
	    set -- --hypervisor $(HYP_BIN) --dtb $(LINUX_DTB) --kernel "$$K" --initrd "$$I" ;; \
	*) echo "make run: CHAIN=$(CHAIN) FIRMWARE=$(FIRMWARE): CHAIN is tfa or uboot, FIRMWARE is tfa" \
	       "or none, and U-Boot runs on TF-A here" >&2; exit 2 ;; \
	esac; \
	exec bash ci/qemu.sh "$$@" --gic $(GIC) --smp $(SMP) --interactive

test: test-lint test-unit test-fuzz test-bench-tools test-system
	@echo "make test: all passed"

test-lint: toolchain
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace $(HOST_EXCLUDES) --all-targets -- -D warnings
	$(CARGO) clippy $(FW_CRATES) --target $(FW_TARGET) -- -D warnings
	$(CARGO) clippy -p boot -p hypervisor -p host-loader -p fdt-rw -p ffa-spec -p platform -p el1-payload --target $(PAYLOAD_TARGET) -- -D warnings

test-unit: toolchain
	$(CARGO) test --workspace $(HOST_EXCLUDES) --exclude system-tests

test-bench-tools: stack
	bash tools/el-counter/validate/validate.sh
	bash ci/bench-selftest.sh

# Both fuzz targets for a few seconds on the pinned toolchain (ci/install-fuzz.sh installs
# cargo-fuzz); fails when the script is missing, a target does not build or finds a crash.
test-fuzz: toolchain
	@test -f fuzz/run.sh || { echo "test-fuzz: fuzz/run.sh is missing" >&2; exit 1; }
	bash fuzz/run.sh 5

# Every passing system test appends what it booted to TESTED_CONFIGS (tests/system/src/tested.rs);
# the records are this run's, and ci/tested-configs.sh renders them into README.md's table of
# tested configurations and docs/tested-configurations.md, failing if those differ from the
# committed ones (UPDATE_TESTED_CONFIGS=1 writes them).
TESTED_CONFIGS := $(BUILD)/tested-configurations.txt
test-system: dtbs bad-inputs chains xtest-inputs spmc-el3 plugin artifacts
	rm -f $(TESTED_CONFIGS)
	$(CARGO) test -p system-tests -- --test-threads=1
	bash ci/tested-configs.sh $(TESTED_CONFIGS)

bench: hypervisor stack payload
	BENCH_HYP_BIN=$(HYP_BIN) BENCH_HYP_ELF=$(ROOT)/$(HYP_ELF) BENCH_PAYLOAD=$(PAYLOAD_BIN) bash ci/bench.sh

clean:
	$(CARGO) clean
	rm -f $(HYP_BIN) $(FLASH) $(LINUX_DTB) $(PAYLOAD_BIN) $(PAYLOAD_DTB) $(PAYLOAD_DTB_SMP2) $(PAYLOAD_RESET_DTB) $(PAYLOAD_FFA10_DTB) $(PAYLOAD_FFA11_DTB) $(PAYLOAD_SMMU_DTB) $(PAYLOAD_DMA_DTB) $(TEEBENCH_DTB)
	rm -f $(FLASH_EL3SPMC) $(EL3SPMC_PAYLOAD_DTB) $(EL3SPMC_XTEST_DTB)
	rm -f $(FLASH_GICV2) $(DIRECT_DTB) $(GICV2_DTB) $(LINUX_TEST_DTB) $(XTEST_DTB) $(XTEST_FULL_DTB) $(ARTIFACTS)
	rm -rf $(BAD_DIR) $(BUILD)/uboot $(UBOOT_TEST)
	rm -f $(SOAK_INITRD) $(SOAK_INITRD).key $(SOAK_PAYLOAD_DTB) $(SOAK_TEEBENCH_DTB) $(SOAK_CPU_OFF_DTB)
