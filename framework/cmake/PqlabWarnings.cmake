# Warnings for pqlab's own targets only (libtorch headers are not warning-clean).
function(pqlab_warnings target)
  target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:-Wall;-Wextra;-Wno-unused-parameter>")
endfunction()
