# Warnings for our own targets only (never for consumers of the installed package).
function(pyconv_set_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  elseif(MSVC)
    target_compile_options(${target} PRIVATE /W3)
  endif()
endfunction()
