/*
 * enter-main.c - berth-enter, the first program of every sandbox
 * (sandbox.h): bubblewrap runs it as the sandbox's command, and it
 * closes what bubblewrap leaves open between sandboxes before it execs
 * the app's:
 *
 *  - abstract Unix sockets, which belong to the network namespace all
 *    sandboxes share with the host: through one, a build could hand a
 *    dyno an open directory of its tree (SCM_RIGHTS), which the dyno
 *    could then change while berth, as root, removes or seals it. A
 *    Landlock domain scoped to the sandbox (Linux 6.12, Landlock ABI 6)
 *    refuses connections to sockets made outside it, and signals too;
 *  - TIOCSTI (and TIOCLINUX), by which a one-off dyno on the terminal
 *    of whoever ran `berth run` could type commands into that shell
 *    after it ends: a seccomp filter refuses them with EPERM.
 *
 * Usage (by berth only): berth-enter COMMAND [ARG...]. An older kernel
 * without Landlock scopes runs the command without that scope (berthd
 * says so, sandbox_scoped()); a filter that cannot be loaded ends it.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Landlock's ruleset with scopes (newer than this system's headers). */
struct ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};
#define SCOPE_ABSTRACT_UNIX_SOCKET	(1ULL << 0)
#define SCOPE_SIGNAL			(1ULL << 1)
#define LANDLOCK_CREATE_RULESET_VERSION	(1U << 0)

#if defined(__x86_64__)
#define THIS_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_ARCH AUDIT_ARCH_AARCH64
#endif

/* Scope the sandbox: 0, 1 when the kernel has no scopes, -1 on error. */
static int
scope(void)
{
	struct ruleset_attr attr = {
		.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL,
	};
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	int fd, rc;

	if (abi < 6)
		return 1;
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr),
	    0);
	if (fd < 0)
		return -1;
	rc = (int)syscall(SYS_landlock_restrict_self, fd, 0);
	close(fd);
	return rc < 0 ? -1 : 0;
}

/* Refuse ioctl(fd, TIOCSTI or TIOCLINUX, ...) with EPERM. */
static int
no_tty_injection(void)
{
#ifdef THIS_ARCH
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCSTI, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCLINUX, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = (unsigned short)(sizeof(f) / sizeof(f[0])),
		.filter = f,
	};

	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
#else
	return 0;
#endif
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "berth-enter: berth runs this in its "
		    "sandboxes, as: berth-enter COMMAND [ARG...]\n");
		return 2;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || scope() < 0 ||
	    no_tty_injection() < 0) {
		fprintf(stderr, "berth-enter: cannot close the sandbox: %s\n",
		    strerror(errno));
		return 126;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "berth-enter: cannot run %s: %s\n", argv[1],
	    strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
