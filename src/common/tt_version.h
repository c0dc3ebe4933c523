/*
 * tt_version: the one version string of the module, the worker and the
 * schema they expect.  Change it here only.
 */

#ifndef TT_VERSION_H
#define TT_VERSION_H

#define TT_VERSION  "0.9.0"

#endif /* TT_VERSION_H */
