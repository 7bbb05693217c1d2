// Thread count used by every parallel kernel. Kernels receive it explicitly;
// this is only where the user's choice is kept.
#pragma once

namespace pyconv {

int num_threads();
void set_num_threads(int n);  // n <= 0 restores the default (all cores)
bool have_openmp();

}  // namespace pyconv
