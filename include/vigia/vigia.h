/* Vigía public SDK: umbrella header. Include this from a plugin. */
#ifndef VIGIA_VIGIA_H
#define VIGIA_VIGIA_H

#include "bus.h"
#include "config.h"
#include "export.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "plugin.h"
#include "tz.h"
#include "vigia/version.h"
#include "workq.h"

#endif /* VIGIA_VIGIA_H */
