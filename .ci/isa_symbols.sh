#!/usr/bin/env bash
# CI: code built for one ISA never stands in for portable code. A kernel file
# compiled with an ISA's flags (-mavx2, -mavx512*, +dotprod: the files named
# *_avx2, *_avx512, *_vnni, *_dotprod) must define no weak symbol: an inline function or
# template instance it did not inline (std::vector's members, say) is kept by
# the linker once, and where it keeps that file's copy, every caller runs its
# instructions, on CPUs without them too. Such files take their scratch from
# kernels/scratch.h and keep helpers in anonymous namespaces.
#
#   .ci/isa_symbols.sh BUILD_DIR
set -euo pipefail
objects=$(find "$1" -name '*_avx2.cpp.o' -o -name '*_avx512.cpp.o' -o -name '*_vnni.cpp.o' -o -name '*_dotprod.cpp.o')
if [[ -z $objects ]]; then
  echo "isa_symbols.sh: no ISA kernel objects under $1 (a build for another architecture?)"
  exit 0
fi
fail=0
for o in $objects; do
  # Weak definitions, less the personality routine's reference (data).
  weak=$(nm -C --defined-only "$o" | awk '$2 ~ /^[WVu]$/' | grep -v 'DW.ref.__gxx_personality_v0' || true)
  if [[ -n $weak ]]; then
    echo "isa_symbols.sh: $(basename "$o") defines weak symbols built with its ISA's instructions:"
    echo "$weak" | sed 's/^/    /'
    fail=1
  fi
done
(( fail == 0 )) && echo "isa_symbols.sh: $(echo "$objects" | wc -l) ISA kernel objects define no weak symbols"
exit $fail
