# PYCONV_SANITIZE and PYCONV_FUZZ: compile flags for every target of this
# project (library, tests, fuzzers), set before any target is defined.
if(PYCONV_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PYCONV_FUZZ needs clang (libFuzzer); configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  if(NOT PYCONV_SANITIZE)
    message(STATUS "PYCONV_FUZZ: turning on PYCONV_SANITIZE")
    set(PYCONV_SANITIZE ON CACHE BOOL "" FORCE)
  endif()
  # Coverage feedback for the fuzzer in all our code; only fuzz targets link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(PYCONV_SANITIZE)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "PYCONV_SANITIZE needs GCC or clang")
  endif()
  # Any report aborts the run, so ctest and the fuzzer see it as a failure.
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # clang cannot vectorise some `omp simd` loops under the sanitizers and
    # says so for each; the loops are correct either way.
    add_compile_options(-Wno-pass-failed)
  endif()
  add_link_options(-fsanitize=address,undefined)
endif()
