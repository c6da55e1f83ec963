/* noise_files.h — the noise signals the trainers mix into training examples (augment_wave),
 * read once at 16 kHz: a list of signals (*sig)[i] of (*len)[i] samples, *n_sig of them,
 * grown by these calls and freed by the owner (each signal, then both arrays). Silent files
 * are skipped (no SNR can be set against them).
 */
#ifndef CHORUS_NOISE_FILES_H
#define CHORUS_NOISE_FILES_H

#include "common/status.h"

/* Appends path's samples (unless silent). Errors: audio_read's, CH_ERR_NOMEM. */
ch_status noise_add_file(float ***sig, long **len, int *n_sig, const char *path,
                         ch_error *err);
/* Appends every audio file of dir (by extension, sorted by name). CH_ERR_IO for a missing
 * folder, CH_ERR_FORMAT "no audio files in the noise folder" / "every noise file is silent". */
ch_status noise_load_dir(float ***sig, long **len, int *n_sig, const char *dir, ch_error *err);

#endif
