package sample

func straight() int { return 1 }

// branchy: 1 + if + && + for + range + one case + one select case = 7.
func branchy(a, b bool, xs []int, ch chan int) {
	if a && b {
	}
	for i := 0; i < 1; i++ {
	}
	for range xs {
	}
	switch {
	case a:
	default:
	}
	select {
	case <-ch:
	default:
	}
}

type T struct{}

func (t *T) method(a bool) {
	if a {
	}
}
