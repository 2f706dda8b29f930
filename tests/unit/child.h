/* child.h - running a call that may exit (a library error dies) in a
 * child process, for C unit tests: its exit status and its stderr. */
#ifndef FI_TEST_CHILD_H
#define FI_TEST_CHILD_H
#include <stddef.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs fn(arg) in a child; returns its exit status (0 when fn returns,
 * 128 when killed) and its stderr in buf (NUL-terminated). */
static int in_child(void (*fn)(void *), void *arg, char *buf, size_t len) __attribute__((unused));
static int in_child(void (*fn)(void *), void *arg, char *buf, size_t len) {
  int fd[2];
  if (pipe(fd)) return -1;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    dup2(fd[1], 2);
    fn(arg);
    _exit(0);
  }
  close(fd[1]);
  size_t got = 0;
  ssize_t n;
  while (got + 1 < len && (n = read(fd[0], buf + got, len - 1 - got)) > 0) got += (size_t)n;
  buf[got] = 0;
  close(fd[0]);
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

#endif
