// Package strictyaml walks gopkg.in/yaml.v3 nodes strictly: every key of a
// mapping must be known, a key may appear once, and every problem is
// collected with its line, so that a file's author sees all of them at once.
//
// It is the one YAML helper of cdcflow: the configuration (internal/config),
// the mapping (pipeline) and the view definitions (sinks/redisview) all walk
// their files with it. It is pure: no I/O, no clocks, no project imports.
//
// What it handles for its callers:
//
//   - unknown keys, reported with up to three near names ("did you mean")
//     chosen by [Suggest];
//   - keys given twice in one mapping, and missing required keys;
//   - merge keys ("<<: *base"): the merged keys are visited first, so the
//     mapping's own keys win;
//   - aliases, with a guard against an alias that contains itself and a
//     bound ([MaxSteps]) on the nodes visited once aliases are expanded, so
//     that an alias bomb ("billion laughs") costs little;
//   - scalars (string, integer, boolean, duration, size) and lists.
package strictyaml
