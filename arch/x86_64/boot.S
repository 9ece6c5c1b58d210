/* arch/x86_64/boot.S - multiboot2 header and the 32-bit entry: check the
 * loader and the CPU, read the run-time command line from QEMU's fw_cfg,
 * choose 4- or 5-level paging, build the early tables, enter long mode and
 * jump to the higher half (x86_boot_main).
 *
 * The command line: QEMU's fw_cfg file opt/kmm/cmdline (`-fw_cfg
 * name=opt/kmm/cmdline,string=...`), when there is one, replaces the one
 * the boot loader passes (GRUB's grub.cfg); "paging=4" is looked for in the
 * one in force. x86_boot_main hands the same one to the kernel.
 *
 * Early tables (2 MiB leaves, all in the kernel's .bss):
 *   identity        [0, 4 GiB)        so that this code survives enabling paging
 *   direct map      0xffff800000000000 + [0, 4 GiB)
 *   kernel image    0xffffffff80000000 + [0, 2 GiB)
 * One PML4 serves every range (entries 0, 256, 511); with LA57 a PML5 points
 * to it from entries 0 and 511. The generic layer replaces all of this with
 * the kernel context once mm_init has run. */

#define KERNEL_VMA 0xffffffff80000000
#define PHYS(sym) ((sym) - KERNEL_VMA)

#define MB2_MAGIC 0xE85250D6
#define MB2_BOOT_MAGIC 0x36d76289
#define MB2_HEADER_LEN (mb2_header_end - mb2_header)

#define COM1 0x3f8
#define FW_CFG_SELECTOR 0x510                /* 16-bit write: choose an item */
#define FW_CFG_DATA 0x511                    /* 8-bit reads: the item's bytes, in order */
#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_FILE_DIR 0x0019
#define FW_CFG_QEMU 0x51454d55               /* "QEMU", read as a big-endian word */
#define FW_CFG_NAME_LEN 56                   /* a directory entry's name field */
#define FW_CFG_CMDLINE_NAME_LEN 16           /* "opt/kmm/cmdline" and its NUL */
#define FW_CFG_MAX_FILES 4096                /* a bound on a directory read from a device */
#define FWCFG_CMDLINE_MAX 512                /* with the NUL: boot_main.c's cmdline_copy[] size */
#define PTE_P_RW 0x003
#define PTE_P_RW_PS 0x083

    .section .multiboot2, "a"
    .balign 8
mb2_header:
    .long MB2_MAGIC
    .long 0                                 /* architecture: i386 protected mode */
    .long MB2_HEADER_LEN
    .long 0x100000000 - (MB2_MAGIC + MB2_HEADER_LEN)
    .balign 8                               /* end tag */
    .short 0
    .short 0
    .long 8
mb2_header_end:

    .section .boot.text, "ax"
    .code32
    .globl x86_boot_entry32
x86_boot_entry32:
    cli
    cld
    movl $PHYS(x86_boot_stack_top), %esp
    movl %ebx, PHYS(x86_boot_mbi_phys)

    cmpl $MB2_BOOT_MAGIC, %eax
    movl $msg_no_mb2, %esi
    jne boot_fail

    call fw_cfg_read_cmdline

    /* Long mode: CPUID leaf 0x80000001 EDX bit 29. */
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    movl $msg_no_lm, %esi
    jb boot_fail
    movl $0x80000001, %eax
    cpuid
    testl $(1 << 29), %edx
    jz boot_fail
    movl %edx, %ebp                         /* keep: bit 20 is NX */

    /* 5-level paging if CPUID.7.0:ECX[16] (LA57) and not forced off. */
    movl $4, PHYS(x86_boot_levels)
    xorl %eax, %eax
    cpuid
    cmpl $7, %eax
    jb 1f
    movl $7, %eax
    xorl %ecx, %ecx
    cpuid
    testl $(1 << 16), %ecx
    jz 1f
    call cmdline_forces_4level
    testl %eax, %eax
    jnz 1f
    movl $5, PHYS(x86_boot_levels)
1:
    call build_early_tables

    /* CR4.PAE (+ LA57), CR3, EFER.LME (+ NXE), CR0.PG. */
    movl %cr4, %eax
    orl $(1 << 5), %eax
    movl $PHYS(x86_early_pml4), %ebx
    cmpl $5, PHYS(x86_boot_levels)
    jne 2f
    orl $(1 << 12), %eax
    movl $PHYS(x86_early_pml5), %ebx
2:
    movl %eax, %cr4
    movl %ebx, %cr3
    movl $0xC0000080, %ecx
    rdmsr
    orl $(1 << 8), %eax
    testl $(1 << 20), %ebp
    jz 3f
    orl $(1 << 11), %eax
3:
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax
    movl %eax, %cr0

    lgdt boot_gdtr
    ljmp $0x08, $boot_entry64

/* fw_cfg_read_cmdline: if QEMU's fw_cfg device answers with its signature
 * and its file directory holds opt/kmm/cmdline, copies that file (at most
 * FWCFG_CMDLINE_MAX - 1 bytes, control characters such as a final newline
 * turned into spaces) NUL-terminated to x86_fwcfg_cmdline, its whole size
 * to x86_fwcfg_cmdline_size, and sets x86_fwcfg_cmdline_present to 1.
 * Otherwise changes nothing. */
fw_cfg_read_cmdline:
    pushl %ebx
    pushl %esi
    pushl %edi
    pushl %ebp
    movw $FW_CFG_SIGNATURE, %ax
    call fw_cfg_select
    call fw_cfg_read_be32
    cmpl $FW_CFG_QEMU, %eax
    jne .Lfw_done
    movw $FW_CFG_FILE_DIR, %ax
    call fw_cfg_select
    call fw_cfg_read_be32
    movl %eax, %ebp                         /* ebp = files left */
    cmpl $FW_CFG_MAX_FILES, %ebp
    jbe .Lfw_file
    movl $FW_CFG_MAX_FILES, %ebp
.Lfw_file:
    testl %ebp, %ebp
    jz .Lfw_done
    decl %ebp
    call fw_cfg_read_be32
    movl %eax, %ebx                         /* ebx = file size */
    call fw_cfg_read_be32
    shrl $16, %eax
    movl %eax, %edi                         /* edi = its selector (the other half is reserved) */
    xorl %esi, %esi                         /* esi = name byte index */
    xorl %ecx, %ecx                         /* ecx = 0 while the name matches */
.Lfw_name:
    inb %dx, %al
    cmpl $FW_CFG_CMDLINE_NAME_LEN, %esi
    jae 1f
    cmpb fw_cfg_cmdline_name(%esi), %al
    je 1f
    incl %ecx
1:
    incl %esi
    cmpl $FW_CFG_NAME_LEN, %esi
    jb .Lfw_name
    testl %ecx, %ecx
    jnz .Lfw_file
    /* Found: read it. */
    movl %edi, %eax
    call fw_cfg_select
    movl %ebx, PHYS(x86_fwcfg_cmdline_size)
    cmpl $FWCFG_CMDLINE_MAX - 1, %ebx
    jbe 2f
    movl $FWCFG_CMDLINE_MAX - 1, %ebx
2:
    movl $PHYS(x86_fwcfg_cmdline), %edi
    movl %ebx, %ecx
    jecxz 4f
3:
    inb %dx, %al
    cmpb $' ', %al
    jae 5f
    testb %al, %al
    jz 5f
    movb $' ', %al
5:
    movb %al, (%edi)
    incl %edi
    loop 3b
4:
    movb $0, (%edi)
    movl $1, PHYS(x86_fwcfg_cmdline_present)
.Lfw_done:
    popl %ebp
    popl %edi
    popl %esi
    popl %ebx
    ret

/* fw_cfg_select: choose item ax; leaves dx = FW_CFG_DATA. Clobbers nothing else. */
fw_cfg_select:
    movw $FW_CFG_SELECTOR, %dx
    outw %ax, %dx
    movw $FW_CFG_DATA, %dx
    ret

/* fw_cfg_read_be32: eax = the next 4 bytes of the item, big-endian (dx =
 * FW_CFG_DATA). Clobbers ecx. */
fw_cfg_read_be32:
    xorl %ecx, %ecx
    movl $4, %eax
1:
    shll $8, %ecx
    pushl %eax
    inb %dx, %al
    movb %al, %cl
    popl %eax
    decl %eax
    jnz 1b
    movl %ecx, %eax
    ret

fw_cfg_cmdline_name:
    .asciz "opt/kmm/cmdline"                /* FW_CFG_CMDLINE_NAME_LEN bytes */

/* cmdline_forces_4level: eax = 1 if the command line in force (fw_cfg's if
 * fw_cfg_read_cmdline found one, else the multiboot2 command-line tag's)
 * holds the token "paging=4" (delimited by start/space and space/NUL), else 0. */
cmdline_forces_4level:
    pushl %esi
    pushl %edi
    pushl %ebx
    cmpl $0, PHYS(x86_fwcfg_cmdline_present)
    je .Lmb2
    movl $PHYS(x86_fwcfg_cmdline), %esi
    leal FWCFG_CMDLINE_MAX - 1(%esi), %edx  /* edx = the last byte (a NUL) */
    movl %esi, %edi
    jmp .Lscan
.Lmb2:
    movl PHYS(x86_boot_mbi_phys), %esi
    movl (%esi), %ebx                       /* total size */
    addl %esi, %ebx                         /* ebx = end of the information */
    addl $8, %esi                           /* first tag */
.Ltag:
    leal 8(%esi), %eax
    cmpl %ebx, %eax
    ja .Lnotfound
    movl (%esi), %eax                       /* type */
    testl %eax, %eax
    jz .Lnotfound
    cmpl $1, %eax
    je .Lcmdline
    movl 4(%esi), %eax                      /* size, rounded up to 8 */
    addl $7, %eax
    andl $~7, %eax
    jz .Lnotfound
    addl %eax, %esi
    jmp .Ltag
.Lcmdline:
    movl 4(%esi), %ecx
    leal (%esi, %ecx), %edx                 /* edx = end of this tag */
    leal 8(%esi), %esi                      /* esi = string */
    movl %esi, %edi                         /* edi = string start */
.Lscan:
    leal 8(%esi), %eax
    cmpl %edx, %eax
    ja .Lnotfound
    cmpb $0, (%esi)
    je .Lnotfound
    cmpl %edi, %esi                         /* token start: string start or after a space */
    je 4f
    cmpb $' ', -1(%esi)
    jne .Lnext
4:
    cmpl $0x69676170, (%esi)                /* "pagi" */
    jne .Lnext
    cmpl $0x343d676e, 4(%esi)               /* "ng=4" */
    jne .Lnext
    movb 8(%esi), %al                       /* token end */
    testb %al, %al
    jz .Lfound
    cmpb $' ', %al
    je .Lfound
.Lnext:
    incl %esi
    jmp .Lscan
.Lfound:
    movl $1, %eax
    jmp 5f
.Lnotfound:
    xorl %eax, %eax
5:
    popl %ebx
    popl %edi
    popl %esi
    ret

/* build_early_tables: clear and fill the tables described at the top. */
build_early_tables:
    movl $PHYS(x86_early_tables_start), %edi
    movl $((x86_early_tables_end - x86_early_tables_start) / 4), %ecx
    xorl %eax, %eax
    rep stosl

    /* 4 page directories, 2048 leaves of 2 MiB: [0, 4 GiB). */
    movl $PHYS(x86_early_pd), %edi
    movl $PTE_P_RW_PS, %eax
    movl $2048, %ecx
1:
    movl %eax, (%edi)
    addl $(1 << 21), %eax
    addl $8, %edi
    loop 1b

    /* PDPT low: 4 directories. PDPT high: [510] and [511] = the first 2 GiB. */
    movl $PHYS(x86_early_pd) + PTE_P_RW, %eax
    movl %eax, PHYS(x86_early_pdpt_low)
    movl %eax, PHYS(x86_early_pdpt_high) + 510 * 8
    addl $4096, %eax
    movl %eax, PHYS(x86_early_pdpt_low) + 8
    movl %eax, PHYS(x86_early_pdpt_high) + 511 * 8
    addl $4096, %eax
    movl %eax, PHYS(x86_early_pdpt_low) + 16
    addl $4096, %eax
    movl %eax, PHYS(x86_early_pdpt_low) + 24

    movl $PHYS(x86_early_pdpt_low) + PTE_P_RW, %eax
    movl %eax, PHYS(x86_early_pml4)
    movl %eax, PHYS(x86_early_pml4) + 256 * 8
    movl $PHYS(x86_early_pdpt_high) + PTE_P_RW, %eax
    movl %eax, PHYS(x86_early_pml4) + 511 * 8
    movl $PHYS(x86_early_pml4) + PTE_P_RW, %eax
    movl %eax, PHYS(x86_early_pml5)
    movl %eax, PHYS(x86_early_pml5) + 511 * 8
    ret

/* boot_fail: print the NUL-terminated message at esi on COM1 and stop. */
boot_fail:
    movw $COM1, %dx
1:
    lodsb
    testb %al, %al
    jz 2f
    outb %al, %dx
    jmp 1b
2:
    cli
    hlt
    jmp 2b

msg_no_mb2:
    .asciz "kmm: not started by a multiboot2 loader\r\n"
msg_no_lm:
    .asciz "kmm: this CPU has no long mode (x86_64)\r\n"

    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00209b0000000000                /* 0x08: 64-bit code, accessed */
    .quad 0x00cf93000000ffff                /* 0x10: data, accessed */
boot_gdt_end:
boot_gdtr:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .code64
boot_entry64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movabsq $x86_boot_high, %rax
    jmp *%rax

    .text
    .code64
x86_boot_high:
    movq $x86_boot_stack_top, %rsp
    xorl %ebp, %ebp
    movl x86_boot_mbi_phys(%rip), %edi
    movl x86_boot_levels(%rip), %esi
    call x86_boot_main
1:
    cli
    hlt
    jmp 1b

    .bss
    .balign 4096
    .globl x86_early_pml5, x86_early_pml4
x86_early_tables_start:
x86_early_pml5:
    .skip 4096
x86_early_pml4:
    .skip 4096
    .globl x86_early_pdpt_low
x86_early_pdpt_low:
    .skip 4096
x86_early_pdpt_high:
    .skip 4096
x86_early_pd:
    .skip 4 * 4096
x86_early_tables_end:

    .balign 8
    .globl x86_boot_mbi_phys
x86_boot_mbi_phys:
    .long 0
x86_boot_levels:
    .long 0
    .globl x86_fwcfg_cmdline_present, x86_fwcfg_cmdline_size, x86_fwcfg_cmdline
x86_fwcfg_cmdline_present:
    .long 0
x86_fwcfg_cmdline_size:
    .long 0
x86_fwcfg_cmdline:
    .skip FWCFG_CMDLINE_MAX

    /* The kernel stack, placed by kernel.ld above an unmapped guard page. */
    .section .kstack, "aw", @nobits
    .balign 4096
    .globl x86_boot_stack_top
x86_boot_stack:
    .skip 32768
x86_boot_stack_top:

    .section .note.GNU-stack, "", @progbits
