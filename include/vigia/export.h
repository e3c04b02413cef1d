/* Vigía public SDK: symbol visibility.
 *
 * Everything in Vigía is built with -fvisibility=hidden. A plugin exports
 * exactly one symbol, its descriptor, and VG_PLUGIN_DEFINE marks it VG_API. */
#ifndef VIGIA_EXPORT_H
#define VIGIA_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define VG_API __attribute__((visibility("default")))
#define VG_PRINTF(fmt_idx, args_idx) __attribute__((format(printf, fmt_idx, args_idx)))
#else
#define VG_API
#define VG_PRINTF(fmt_idx, args_idx)
#endif

#endif /* VIGIA_EXPORT_H */
