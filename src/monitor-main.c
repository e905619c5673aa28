/*
 * monitor-main.c - berth-monitor, the dyno monitor (monitor.h): a
 * helper berthd runs, one per formation dyno, from its own directory or
 * LIBEXECDIR/berth/. Not for people to run: it reads its spec from
 * berthd on stdin.
 */
#include "monitor.h"

#include <stdio.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	if (isatty(0)) {
		fprintf(stderr, "berth-monitor: berthd runs this, one per "
		    "dyno; see berthd(8)\n");
		return 2;
	}
	return monitor_main(argc, argv);
}
